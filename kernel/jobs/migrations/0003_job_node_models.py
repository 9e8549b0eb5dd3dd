from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('kernel_jobs', '0002_job_nodes')]

    initial = False

    operations = [
        ops.AddField(
            model_name='JobNode',
            name='models',
            field=fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
    ]
