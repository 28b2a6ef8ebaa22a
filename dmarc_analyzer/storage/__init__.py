"""The SQL database: tables, migrations, and the queries that fill and read it."""
