from tortoise import migrations
from tortoise.migrations import operations as ops
from plugins.media.models import FileType
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('kernel', '0001_initial')]

    initial = True

    operations = [
        ops.CreateModel(
            name='MediaFile',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('kernel.User', source_field='user_id', db_constraint=True, to_field='id', related_name='media_files', on_delete='CASCADE')),
                ('meeting_id', fields.IntField(null=True, db_index=True)),
                ('file_name', fields.CharField(max_length=255)),
                ('storage_key', fields.CharField(unique=True, max_length=500)),
                ('file_type', fields.CharEnumField(description='VIDEO: video\nAUDIO: audio\nIMAGE: image\nDOCUMENT: document', enum_type=FileType, max_length=16)),
                ('mime_type', fields.CharField(max_length=127)),
                ('size', fields.BigIntField()),
                ('duration', fields.FloatField(null=True)),
                ('width', fields.IntField(null=True)),
                ('height', fields.IntField(null=True)),
                ('codec', fields.CharField(null=True, max_length=64)),
                ('audio_codec', fields.CharField(null=True, max_length=64)),
                ('bitrate', fields.BigIntField(null=True)),
                ('format_name', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'media_files', 'app': 'media', 'indexes': [Index(fields=['user_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One stored file. The bytes live in the kernel storage under `storage_key`.'},
            bases=['Model'],
        ),
    ]
