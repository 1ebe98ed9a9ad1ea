"""Pruning: records leave the store once delivered, listed in a signed digest and older than the
retention (audit_delivery.retention: KEYPLANE_AUDIT_RETENTION, `keyplane serve --audit-retention`,
24 hours by default), so the store's trail stays bounded by the retention however many calls come.

The scheduled task `audit.prune` removes a prefix of the chain, in short transactions of CHUNK
records, and keeps where the chain goes on (`pruned_seq`, `pruned_hash` in audit_delivery), so the
store's remaining records still verify on their own; the newest record always stays, it is what the
next record chains from. Nothing is pruned from a store whose trail is not delivered.

What must outlive the records is kept apart from them: each KMS key's last use (GetKeyLastUsage)
is the `resource_uses` row the trail upserts as it writes records (audit.py), which pruning leaves
alone; the signing key, digests and writer rows stay too.
"""
from __future__ import annotations

import sqlalchemy as sa

from . import audit_delivery
from .store.tables import audit as audit_table

CHUNK = 5_000


def prune_due(engine, store, now) -> int:
    """Scheduled task: remove the delivered, digested records older than the retention; how many."""
    if audit_delivery.audit_dir(engine, store) is None:
        return 0
    keep_from = now.timestamp() - audit_delivery.retention(engine)
    with store.read() as conn:
        start = audit_delivery.state(conn)
        if start.digested_seq <= start.pruned_seq:
            return 0
        young = conn.execute(sa.select(audit_table.c.seq).where(
            audit_table.c.seq > start.pruned_seq, audit_table.c.event_time >= keep_from)
            .order_by(audit_table.c.seq).limit(1)).scalar()
        newest = conn.execute(sa.select(sa.func.max(audit_table.c.seq))).scalar() or 0
    target = min(start.digested_seq, newest - 1, young - 1 if young is not None else newest)
    saved = scanned = start.pruned_seq
    done = 0
    while scanned < target:
        upto = min(scanned + CHUNK, target)
        with store.write() as conn:
            if audit_delivery.state(conn).pruned_seq != saved:      # another process is pruning
                break
            anchor = conn.execute(sa.select(audit_table.c.seq, audit_table.c.hash).where(
                audit_table.c.seq > scanned, audit_table.c.seq <= upto)
                .order_by(audit_table.c.seq.desc()).limit(1)).first()
            if anchor is not None:        # (PostgreSQL may skip seqs: a chunk can hold none)
                done += conn.execute(audit_table.delete().where(
                    audit_table.c.seq > saved, audit_table.c.seq <= anchor.seq)).rowcount
                audit_delivery.save_state(conn, pruned_seq=anchor.seq, pruned_hash=anchor.hash)
                saved = anchor.seq
        scanned = upto
    return done
