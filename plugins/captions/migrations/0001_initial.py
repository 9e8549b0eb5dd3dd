from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('kernel', '0001_initial')]

    initial = True

    operations = [
        ops.CreateModel(
            name='TranscriptSegment',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('meeting_id', fields.IntField(db_index=True)),
                ('user_id', fields.IntField(null=True)),
                ('session_id', fields.CharField(max_length=64)),
                ('text', fields.TextField(unique=False)),
                ('start_seconds', fields.FloatField()),
                ('end_seconds', fields.FloatField()),
                ('language', fields.CharField(default='en', max_length=16)),
                ('engine', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'transcript_segments', 'app': 'captions', 'pk_attr': 'id', 'table_description': 'What one participant said in one utterance (times: seconds into the meeting).'},
            bases=['Model'],
        ),
    ]
