from tortoise import migrations
from tortoise.migrations import operations as ops
from kernel.auth.models import Role, UserStatus
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='RevokedAccessToken',
            fields=[
                ('jti', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'revoked_access_tokens', 'app': 'kernel', 'pk_attr': 'jti', 'table_description': 'Access tokens ended by logout before their expiry (rows can go once `expires_at` passed).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('username', fields.CharField(unique=True, max_length=50)),
                ('email', fields.CharField(unique=True, max_length=254)),
                ('password_hash', fields.CharField(max_length=255)),
                ('nickname', fields.CharField(null=True, max_length=50)),
                ('avatar_url', fields.CharField(null=True, max_length=500)),
                ('role', fields.CharEnumField(default=Role.USER, description='USER: user\nADMIN: admin', enum_type=Role, max_length=16)),
                ('status', fields.CharEnumField(default=UserStatus.ACTIVE, description='ACTIVE: active\nBANNED: banned\nDELETED: deleted', enum_type=UserStatus, max_length=16)),
                ('ban_reason', fields.CharField(null=True, max_length=500)),
                ('banned_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('tokens_valid_after', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_login', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'users', 'app': 'kernel', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PasswordResetToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('kernel.User', source_field='user_id', db_constraint=True, to_field='id', related_name='reset_tokens', on_delete='CASCADE')),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'password_reset_tokens', 'app': 'kernel', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RefreshToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('kernel.User', source_field='user_id', db_constraint=True, to_field='id', related_name='refresh_tokens', on_delete='CASCADE')),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('family', fields.CharField(db_index=True, max_length=32)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'refresh_tokens', 'app': 'kernel', 'pk_attr': 'id', 'table_description': 'One refresh token. Rotation chains the tokens of one login into a family.'},
            bases=['Model'],
        ),
    ]
