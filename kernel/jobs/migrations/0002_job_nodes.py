from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('kernel_jobs', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='JobNode',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=128)),
                ('kinds', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('workers', fields.IntField(default=0)),
                ('running', fields.IntField(default=0)),
                ('host', fields.CharField(null=True, max_length=255)),
                ('pid', fields.IntField(null=True)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('heartbeat_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('checked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('stopped_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'job_nodes', 'app': 'kernel_jobs', 'pk_attr': 'name', 'table_description': 'A node that runs jobs (a server or a `platform worker`), kept fresh by its heartbeat.'},
            bases=['Model'],
        ),
    ]
