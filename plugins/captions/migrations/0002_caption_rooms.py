from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('captions', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CaptionRoom',
            fields=[
                ('meeting_id', fields.IntField(generated=False, primary_key=True, unique=True, db_index=True)),
                ('node', fields.CharField(max_length=128)),
                ('heartbeat_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'caption_rooms', 'app': 'captions', 'pk_attr': 'meeting_id', 'table_description': 'Which node captions a meeting (one bot per meeting in a deployment), and its heartbeat.'},
            bases=['Model'],
        ),
    ]
