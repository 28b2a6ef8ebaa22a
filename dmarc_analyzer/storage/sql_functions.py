"""SQL functions that SQLite and PostgreSQL spell differently."""

from sqlalchemy import Boolean, Date
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement, ReturnTypeFromArgs


class month_start(FunctionElement):
    """The first day of the month of a date."""

    type = Date()
    inherit_cache = True
    name = "month_start"


@compiles(month_start, "sqlite")
def _month_start_sqlite(element, compiler, **kw) -> str:
    return f"date({compiler.process(element.clauses, **kw)}, 'start of month')"


@compiles(month_start, "postgresql")
def _month_start_postgresql(element, compiler, **kw) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"CAST(date_trunc('month', {column}) AS date)"


class same_in_group(ReturnTypeFromArgs):
    """In a grouped query, a column whose value every row of a group shares
    (it depends on the columns grouped by): grouping by fewer columns
    sorts less."""

    inherit_cache = True


@compiles(same_in_group, "sqlite")
def _same_in_group_sqlite(element, compiler, **kw) -> str:
    # SQLite takes a bare column from one row of the group.
    return compiler.process(element.clauses, **kw)


@compiles(same_in_group, "postgresql")
def _same_in_group_postgresql(element, compiler, **kw) -> str:
    [column] = element.clauses.clauses
    pick = "bool_or" if isinstance(column.type, Boolean) else "min"
    return f"{pick}({compiler.process(element.clauses, **kw)})"
