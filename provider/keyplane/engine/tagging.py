"""Tags of any resource (KMS keys, parameters, secrets), keyed by the resource's ARN."""
from __future__ import annotations

import sqlalchemy as sa

from .store.tables import tags as tags_table


def get_tags(conn, arn: str) -> dict[str, str]:
    rows = conn.execute(sa.select(tags_table.c.tag_key, tags_table.c.tag_value)
                        .where(tags_table.c.resource_arn == arn).order_by(tags_table.c.tag_key))
    return {k: v for k, v in rows}


def set_tags(conn, arn: str, tags: dict[str, str]) -> None:
    for k, v in tags.items():
        conn.execute(tags_table.delete().where(tags_table.c.resource_arn == arn, tags_table.c.tag_key == k))
        conn.execute(tags_table.insert().values(resource_arn=arn, tag_key=k, tag_value=v))


def remove_tags(conn, arn: str, keys) -> None:
    conn.execute(tags_table.delete().where(tags_table.c.resource_arn == arn,
                                           tags_table.c.tag_key.in_(list(keys))))


def delete_all(conn, arn: str) -> None:
    conn.execute(tags_table.delete().where(tags_table.c.resource_arn == arn))
