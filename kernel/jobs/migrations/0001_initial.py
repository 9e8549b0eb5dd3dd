from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from kernel.jobs.models import JobStatus
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Job',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(db_index=True, max_length=64)),
                ('user_id', fields.IntField(db_index=True)),
                ('status', fields.CharEnumField(default=JobStatus.PENDING, description='PENDING: pending\nPROCESSING: processing\nCOMPLETED: completed\nFAILED: failed', enum_type=JobStatus, max_length=16)),
                ('progress', fields.IntField(default=0)),
                ('params', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('result', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('error', fields.TextField(null=True, unique=False)),
                ('attempts', fields.IntField(default=0)),
                ('timeout', fields.IntField()),
                ('node', fields.CharField(null=True, max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('completed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('heartbeat_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'jobs', 'app': 'kernel_jobs', 'indexes': [Index(fields=['status', 'heartbeat_at'])], 'pk_attr': 'id', 'table_description': 'A long job (FFmpeg, AI...) of one user, run by whichever node takes it from the queue.'},
            bases=['Model'],
        ),
    ]
