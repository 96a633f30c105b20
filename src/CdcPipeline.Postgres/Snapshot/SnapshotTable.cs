using System.Text;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Postgres.Setup;
using CdcPipeline.Postgres.Capture;
using CdcPipeline.Postgres.Types;
using Npgsql;

namespace CdcPipeline.Postgres.Snapshot;

/// <summary>
/// A table as the snapshot reads it: columns in table order (as pgoutput sends them), the primary key used for
/// keyset pagination, and text converters shared with the streaming path.
/// </summary>
internal sealed class SnapshotTable
{
    // What the description depends on, in one row: the captured columns (name, type, modifier, in table order) and
    // the primary key's columns in key order. An ALTER TABLE that changes what a chunk reads changes this text.
    private const string SignatureSql =
        "SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname) || ' ' || a.atttypid || ' ' || a.atttypmod " +
        "|| COALESCE(' k' || pg_catalog.array_position(i.indkey::int2[], a.attnum), ''), ',' ORDER BY a.attnum) " +
        "FROM pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_index i ON i.indrelid = a.attrelid AND i.indisprimary " +
        "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''";

    private SnapshotTable(string schema, string table, string[] columns, Func<string, object?>[] converters, int[] keyIndexes, string[] keyTypes, long estimatedRows, string signature)
    {
        Signature = signature;
        Schema = schema;
        Table = table;
        QualifiedName = schema + "." + table;
        Columns = columns;
        Converters = converters;
        KeyIndexes = keyIndexes;
        KeyTypes = keyTypes;
        EstimatedRows = estimatedRows;
        Shape = new RowShape(columns);
        KeyShape = new RowShape(keyIndexes.Select(i => columns[i]).ToArray());
    }

    public string Schema { get; }
    public string Table { get; }
    public string QualifiedName { get; }
    public string[] Columns { get; }
    public Func<string, object?>[] Converters { get; }
    public int[] KeyIndexes { get; }
    public string[] KeyTypes { get; }
    public long EstimatedRows { get; }
    public RowShape Shape { get; }
    public RowShape KeyShape { get; }
    public bool HasKey => KeyIndexes.Length > 0;

    /// <summary>The table's definition as this description read it (see <see cref="ReadSignatureAsync"/>).</summary>
    public string Signature { get; }

    /// <summary>
    /// The table's definition now, in one cheap query: when it differs from a description's <see cref="Signature"/>,
    /// the table was altered since (a column added, dropped, renamed or retyped, another primary key) and must be described afresh.
    /// </summary>
    public static async Task<string> ReadSignatureAsync(NpgsqlConnection connection, string qualified, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(SignatureSql, connection);
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = ReplicationSetup.QuoteTable(qualified) });
        return await cmd.ExecuteScalarAsync(cancellationToken) as string ?? "";
    }

    /// <remarks>
    /// Generated (STORED) columns are left out: pgoutput does not send them (PostgreSQL 15), so streamed rows lack
    /// them, and a snapshot row must have the shape of a streamed one (Debezium's incremental snapshots drop them too).
    /// </remarks>
    public static async Task<SnapshotTable> DescribeAsync(NpgsqlConnection connection, PgTypeCatalog types, string qualified, CancellationToken cancellationToken)
    {
        var (schema, table) = ReplicationSetup.SplitTableName(qualified);
        var quoted = ReplicationSetup.QuoteTable(qualified);
        var columns = new List<string>();
        var oids = new List<uint>();
        var typeModifiers = new List<int>();
        long estimate;
        var signature = await ReadSignatureAsync(connection, qualified, cancellationToken); // first: an ALTER while describing shows at the next check
        await using (var cmd = new NpgsqlCommand(
            "SELECT a.attname, a.atttypid, a.atttypmod FROM pg_catalog.pg_attribute a " +
            "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum", connection))
        {
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = quoted });
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                columns.Add(reader.GetString(0));
                oids.Add(reader.GetFieldValue<uint>(1));
                typeModifiers.Add(reader.GetInt32(2));
            }
        }

        if (columns.Count == 0)
        {
            // pgoutput sends no generated columns: a table of none but those has no row shape the capture can stream or snapshot
            throw new CaptureStoppedException(
                $"table {qualified} has no columns the capture can read (none, or only generated ones), or does not exist: " +
                "remove it from source.postgres.tables (and from the publication), or give it a column, then start again");
        }

        var keyNames = new List<string>();
        var keyTypes = new List<string>();
        await using (var cmd = new NpgsqlCommand(
            "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_index i " +
            "JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) " +
            "WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)", connection))
        {
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = quoted });
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                keyNames.Add(reader.GetString(0));
                keyTypes.Add(reader.GetString(1));
            }
        }

        await using (var cmd = new NpgsqlCommand("SELECT CASE WHEN c.reltuples < 0 OR (c.reltuples = 0 AND pg_catalog.pg_relation_size(c.oid) > 0) THEN -1 ELSE c.reltuples::bigint END " +
            "FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass", connection))
        {
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = quoted });
            estimate = (long)(await cmd.ExecuteScalarAsync(cancellationToken) ?? 0L);
        }

        var converters = new Func<string, object?>[oids.Count];
        for (var i = 0; i < oids.Count; i++)
        {
            converters[i] = await types.GetConverterAsync(oids[i], typeModifiers[i], cancellationToken); // the modifier pgoutput sends too
        }

        var keyIndexes = keyNames.Select(k => columns.IndexOf(k)).ToArray();
        return new SnapshotTable(schema, table, columns.ToArray(), converters, keyIndexes, keyTypes.ToArray(), estimate, signature);
    }

    /// <summary>The largest primary key now (text form, key order), or null when the table is empty.</summary>
    public async Task<string?[]?> ReadMaxKeyAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var keyColumns = KeyIndexes.Select(i => ReplicationSetup.QuoteIdentifier(Columns[i])).ToArray();
        var sql = new StringBuilder("SELECT ").AppendJoin(", ", keyColumns)
            .Append(" FROM ").Append(ReplicationSetup.QuoteIdentifier(Schema)).Append('.').Append(ReplicationSetup.QuoteIdentifier(Table))
            .Append(" ORDER BY ").AppendJoin(", ", keyColumns.Select(k => k + " DESC")).Append(" LIMIT 1");
        await using var cmd = new NpgsqlCommand(sql.ToString(), connection) { AllResultTypesAreUnknown = true };
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        var key = new string?[keyColumns.Length];
        for (var i = 0; i < key.Length; i++)
        {
            key[i] = reader.IsDBNull(i) ? null : reader.GetString(i);
        }

        return key;
    }

    /// <summary>
    /// The next chunk after <paramref name="afterKey"/> in primary-key order (keyset pagination: the cost of a chunk
    /// does not grow with its offset). Values are read as PostgreSQL's text output (Npgsql's "unknown" result types),
    /// exactly what pgoutput sends, so snapshot and stream rows convert identically. A table without a primary key
    /// is read whole in one chunk.
    /// </summary>
    public async Task<List<SnapshotRow>> ReadChunkAsync(NpgsqlConnection connection, string?[]? afterKey, int chunkSize, CancellationToken cancellationToken, string?[]? upToKey = null)
    {
        var sql = new StringBuilder("SELECT ");
        sql.AppendJoin(", ", Columns.Select(ReplicationSetup.QuoteIdentifier));
        sql.Append(" FROM ").Append(ReplicationSetup.QuoteIdentifier(Schema)).Append('.').Append(ReplicationSetup.QuoteIdentifier(Table));
        await using var cmd = new NpgsqlCommand { Connection = connection, AllResultTypesAreUnknown = true };
        if (HasKey)
        {
            var keyList = string.Join(", ", KeyIndexes.Select(i => ReplicationSetup.QuoteIdentifier(Columns[i])));
            if (afterKey is not null)
            {
                sql.Append(" WHERE (").Append(keyList).Append(") > (");
                for (var i = 0; i < KeyIndexes.Length; i++)
                {
                    sql.Append(i == 0 ? "" : ", ").Append('$').Append(i + 1).Append("::").Append(KeyTypes[i]);
                    cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)afterKey[i] ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Unknown });
                }

                sql.Append(')');
            }

            if (upToKey is not null)
            {
                sql.Append(afterKey is null ? " WHERE (" : " AND (").Append(keyList).Append(") <= (");
                for (var i = 0; i < KeyIndexes.Length; i++)
                {
                    sql.Append(i == 0 ? "" : ", ").Append('$').Append(cmd.Parameters.Count + 1).Append("::").Append(KeyTypes[i]);
                    cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)upToKey[i] ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Unknown });
                }

                sql.Append(')');
            }

            sql.Append(" ORDER BY ").Append(keyList).Append(" LIMIT ").Append(chunkSize);
        }

        cmd.CommandText = sql.ToString();
        var rows = new List<SnapshotRow>();
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var values = new object?[Columns.Length];
            var texts = new string?[Columns.Length];
            var i = 0;
            try
            {
                for (; i < Columns.Length; i++)
                {
                    if (!reader.IsDBNull(i))
                    {
                        var text = reader.GetString(i);
                        texts[i] = text;
                        values[i] = Converters[i](text);
                    }
                }
            }
            catch (Exception e) when (i < Columns.Length && texts[i] is not null && ColumnValueException.IsConversionFailure(e))
            {
                throw new ColumnValueException(QualifiedName, Columns[i], texts[i]!, e, ColumnValueException.SnapshotNextStep);
            }

            var keyText = KeyIndexes.Select(k => texts[k]).ToArray();
            var keyValues = KeyIndexes.Select(k => values[k]).ToArray();
            rows.Add(new SnapshotRow(new Row(Shape, values), HasKey ? new Row(KeyShape, keyValues) : null, keyText));
        }

        return rows;
    }
}

internal sealed record SnapshotRow(Row After, Row? Key, string?[] KeyText);
