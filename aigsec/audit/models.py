"""The tamper-evident audit trail: a hash chain of events, a locked head row, signed checkpoints."""

from django.db import models
from django.utils import timezone

GENESIS_HASH = "0" * 64


class AuditEvent(models.Model):
    seq = models.BigIntegerField(unique=True)
    at = models.DateTimeField()
    actor = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=80)
    team = models.BigIntegerField(null=True, blank=True)
    # null, not "", is the documented value for "no target" in the hashed JSON.
    target = models.CharField(max_length=120, null=True, blank=True)  # noqa: DJ001
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        db_table = "audit_event"
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["team", "-seq"], name="audit_team_seq"),
            # The filter's list of a team's actions walks this index (a loose index scan).
            models.Index(fields=["team", "action"], name="audit_team_action"),
            models.Index(fields=["target"], name="audit_target"),
            models.Index(fields=["actor"], name="audit_actor"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(seq__gte=1), name="audit_seq_gte_1")
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"


class AuditChainHead(models.Model):
    """A single row (pk=1) locked by every append, so that appends are serialised."""

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        db_table = "audit_chain_head"

    def __str__(self) -> str:
        return f"head {self.seq}"


class AuditCheckpoint(models.Model):
    """A signed checkpoint of the log: the Merkle tree of the first `seq` events (RFC 9162) has
    root `root`, as a C2SP tlog-checkpoint `note` signed with the log's Ed25519 key
    (aigsec/audit/note.py). `hash` is the chain head at `seq`. Also appended to the witness
    outside the database, so a checkpoint that vanishes from this table is noticed."""

    seq = models.BigIntegerField()  # the tree size
    hash = models.CharField(max_length=64)
    at = models.DateTimeField(default=timezone.now)
    root = models.CharField(max_length=64)  # hex of the tree's root hash
    note = models.TextField()

    class Meta:
        db_table = "audit_checkpoint"
        ordering = ["-seq", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["seq"], name="audit_checkpoint_one_per_size"),
            models.CheckConstraint(condition=models.Q(seq__gte=1), name="audit_checkpoint_seq"),
        ]

    def __str__(self) -> str:
        return f"checkpoint {self.seq}"


class AuditTreeNode(models.Model):
    """A complete subtree hash of the Merkle tree, kept at every second level (2, 4, 6, ...):
    node (level, index) covers leaves [index * 2**level, (index + 1) * 2**level). Any hash of the
    tree is then at most 2 stored nodes (or 4 events' lines) away, so proofs and checkpoints
    read a few dozen rows whatever the size of the log (aigsec/audit/tree.py)."""

    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField(max_length=32)

    class Meta:
        db_table = "audit_tree_node"
        constraints = [
            models.UniqueConstraint(fields=["level", "index"], name="audit_tree_node_key")
        ]

    def __str__(self) -> str:
        return f"node {self.level}/{self.index}"


class AuditTreeState(models.Model):
    """A single row (pk=1): how many leaves the stored nodes cover (a multiple of 4). Locked
    while nodes are added and while a checkpoint is taken, so both happen one at a time."""

    size = models.BigIntegerField(default=0)

    class Meta:
        db_table = "audit_tree_state"

    def __str__(self) -> str:
        return f"tree {self.size}"
