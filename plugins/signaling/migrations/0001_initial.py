from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from plugins.signaling.models import SessionStatus
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='SignalingMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('meeting_id', fields.IntField(db_index=True)),
                ('type', fields.CharField(max_length=32)),
                ('from_user', fields.IntField(null=True)),
                ('session_id', fields.CharField(null=True, max_length=32)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'signaling_messages', 'app': 'signaling', 'pk_attr': 'id', 'table_description': 'A room message kept for history: joins, leaves, media state and chat.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SignalingSession',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('meeting_id', fields.IntField(db_index=True)),
                ('user_id', fields.IntField(db_index=True)),
                ('status', fields.CharEnumField(db_index=True, description='CONNECTED: connected\nRECONNECTING: reconnecting\nDISCONNECTED: disconnected', enum_type=SessionStatus, max_length=16)),
                ('node', fields.CharField(max_length=200)),
                ('connection_id', fields.CharField(max_length=32)),
                ('user_agent', fields.CharField(null=True, max_length=300)),
                ('connected_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_seen', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('disconnected_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'signaling_sessions', 'app': 'signaling', 'pk_attr': 'id', 'table_description': 'One device in one room. The node and connection fields say which socket holds it now.'},
            bases=['Model'],
        ),
    ]
