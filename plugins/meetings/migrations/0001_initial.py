from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from plugins.meetings.models import MeetingStatus, MeetingType, ParticipantRole, ParticipantStatus
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('kernel', '0001_initial')]

    initial = True

    operations = [
        ops.CreateModel(
            name='Meeting',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('title', fields.CharField(max_length=100)),
                ('description', fields.CharField(null=True, max_length=500)),
                ('creator', fields.ForeignKeyField('kernel.User', source_field='creator_id', db_constraint=True, to_field='id', related_name='meetings_created', on_delete='CASCADE')),
                ('start_time', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('end_time', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('max_participants', fields.IntField()),
                ('seats_taken', fields.IntField(default=0)),
                ('meeting_type', fields.CharEnumField(default=MeetingType.VIDEO, description='VIDEO: video\nAUDIO: audio', enum_type=MeetingType, max_length=16)),
                ('password_hash', fields.CharField(null=True, max_length=255)),
                ('status', fields.CharEnumField(default=MeetingStatus.SCHEDULED, db_index=True, description='SCHEDULED: scheduled\nONGOING: ongoing\nENDED: ended\nCANCELLED: cancelled', enum_type=MeetingStatus, max_length=16)),
                ('settings', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'meetings', 'app': 'meetings', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ChatMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('meeting', fields.ForeignKeyField('meetings.Meeting', source_field='meeting_id', db_constraint=True, to_field='id', related_name='messages', on_delete='CASCADE')),
                ('user', fields.ForeignKeyField('kernel.User', source_field='user_id', db_constraint=True, to_field='id', related_name='chat_messages', on_delete='CASCADE')),
                ('content', fields.CharField(max_length=1000)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'meeting_messages', 'app': 'meetings', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Participant',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('meeting', fields.ForeignKeyField('meetings.Meeting', source_field='meeting_id', db_constraint=True, to_field='id', related_name='participants', on_delete='CASCADE')),
                ('user', fields.ForeignKeyField('kernel.User', source_field='user_id', db_constraint=True, to_field='id', related_name='participations', on_delete='CASCADE')),
                ('role', fields.CharEnumField(default=ParticipantRole.PARTICIPANT, description='HOST: host\nMODERATOR: moderator\nPARTICIPANT: participant', enum_type=ParticipantRole, max_length=16)),
                ('status', fields.CharEnumField(default=ParticipantStatus.OFFLINE, description='ONLINE: online\nOFFLINE: offline\nWAITING: waiting', enum_type=ParticipantStatus, max_length=16)),
                ('audio_enabled', fields.BooleanField(default=True)),
                ('video_enabled', fields.BooleanField(default=True)),
                ('joined_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('left_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'meeting_participants', 'app': 'meetings', 'unique_together': (('meeting', 'user'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
