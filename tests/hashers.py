from django.contrib.auth.hashers import Argon2PasswordHasher


class FastArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id with minimal cost, for tests only: same algorithm and format, far less CPU."""

    time_cost = 1
    memory_cost = 8
    parallelism = 1
