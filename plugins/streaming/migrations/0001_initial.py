from tortoise import migrations
from tortoise.migrations import operations as ops
from plugins.streaming.models import StreamStatus
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('kernel', '0001_initial')]

    initial = True

    operations = [
        ops.CreateModel(
            name='Stream',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('meeting_id', fields.IntField(db_index=True)),
                ('user', fields.ForeignKeyField('kernel.User', source_field='user_id', db_constraint=True, to_field='id', related_name='streams', on_delete='CASCADE')),
                ('protocol', fields.CharField(max_length=8)),
                ('url', fields.CharField(null=True, max_length=500)),
                ('status', fields.CharEnumField(default=StreamStatus.LIVE, description='LIVE: live\nRECONNECTING: reconnecting\nSTOPPED: stopped\nFAILED: failed', enum_type=StreamStatus, max_length=16)),
                ('error', fields.TextField(null=True, unique=False)),
                ('node', fields.CharField(null=True, max_length=128)),
                ('bytes_sent', fields.BigIntField(default=0)),
                ('reconnects', fields.IntField(default=0)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('stopped_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('heartbeat_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'streams', 'app': 'streaming', 'pk_attr': 'id', 'table_description': 'A live stream. The id is random: it is also the secret part of the HLS playback URL.'},
            bases=['Model'],
        ),
    ]
