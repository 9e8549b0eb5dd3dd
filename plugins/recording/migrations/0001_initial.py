from tortoise import migrations
from tortoise.migrations import operations as ops
from plugins.recording.models import RecordingStatus
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('kernel', '0001_initial')]

    initial = True

    operations = [
        ops.CreateModel(
            name='Recording',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('meeting_id', fields.IntField(db_index=True)),
                ('user', fields.ForeignKeyField('kernel.User', source_field='user_id', db_constraint=True, to_field='id', related_name='recordings', on_delete='CASCADE')),
                ('title', fields.CharField(null=True, max_length=200)),
                ('status', fields.CharEnumField(default=RecordingStatus.RECORDING, description='RECORDING: recording\nPROCESSING: processing\nCOMPLETED: completed\nFAILED: failed', enum_type=RecordingStatus, max_length=16)),
                ('quality', fields.CharField(default='720p', max_length=8)),
                ('format', fields.CharField(default='mp4', max_length=8)),
                ('node', fields.CharField(null=True, max_length=128)),
                ('job_id', fields.IntField(null=True)),
                ('file_id', fields.IntField(null=True)),
                ('duration', fields.FloatField(null=True)),
                ('size', fields.BigIntField(null=True)),
                ('error', fields.TextField(null=True, unique=False)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('stopped_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('completed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('heartbeat_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'recordings', 'app': 'recording', 'pk_attr': 'id', 'table_description': 'One recording of a meeting. Its composed file is a media file (`file_id`) once completed.'},
            bases=['Model'],
        ),
    ]
