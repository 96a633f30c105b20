using CdcPipeline.Core.Changes;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace CdcPipeline.Sinks.Postgres;

/// <summary>
/// A configured <c>[schema.]table</c> (and the columns configured for it), read as PostgreSQL reads names in SQL
/// (<see cref="PgNames.TryParseQualified"/>: <c>Orders</c> is <c>orders</c>, <c>"Orders"</c> keeps its case), and the guard for
/// deployments of earlier versions, which quoted these settings as written: <c>table: Orders</c> made and wrote <c>"Orders"</c>,
/// <c>keyColumn: OrderId</c> the column <c>"OrderId"</c>. Such a deployment is not silently moved to a new, empty <c>orders</c>
/// (or to a column <c>orderid</c> the table does not have): while the old-spelled table (column) exists and the new one does not,
/// <see cref="CheckAsync"/> fails (before anything creates the new one) with an error giving both ways on: rename it, or write
/// the name quoted. While both exist (the old-spelled one holding what earlier versions wrote, the new one written now), it warns
/// once, naming both and how to go on. Used by the postgres sink and the failure store, so one configuration file reads names one way.
/// </summary>
internal sealed partial class FormerSpellings
{
    private readonly string _owner;
    private readonly string _tableKey;
    private readonly string _configuredTable;
    private readonly string? _tableLocation;
    private readonly IReadOnlyList<Column> _columns;
    private readonly string? _sql;
    private volatile bool _checked;

    /// <summary>A configured column of the table: its key (<c>keyColumn</c>), as written, and where (<c>file:line</c>).</summary>
    public sealed record Column(string Key, string Configured, string? Location);

    /// <param name="owner">Who reads the setting, as errors begin (<c>postgres sink 'pg'</c>).</param>
    /// <param name="tableKey">The setting's key as written in its section (<c>table</c>).</param>
    /// <param name="configuredTable">The setting as written; valid for <see cref="PgNames.TryParseQualified"/>.</param>
    /// <param name="tableLocation">Where it was written (<c>file:line</c>), or null.</param>
    /// <param name="columns">Columns configured for the table, each valid for <see cref="PgNames.TryParseName"/>.</param>
    public FormerSpellings(string owner, string tableKey, string configuredTable, string? tableLocation, IReadOnlyList<Column>? columns = null)
    {
        if (!PgNames.TryParseQualified(configuredTable, out var schema, out var table, out var error))
        {
            throw new ArgumentException($"{owner}: {tableKey} '{configuredTable}': {error}", nameof(configuredTable));
        }

        _owner = owner;
        _tableKey = tableKey;
        _configuredTable = configuredTable;
        _tableLocation = tableLocation;
        Schema = schema;
        Table = table;
        QuotedTable = SqlIdentifier.Quote(schema, table);
        _columns = columns ?? [];

        var checks = new List<string>(1 + _columns.Count);
        // Null when the setting means what it meant: written in lower case, or quoted.
        if (!PgNames.IsQuoted(configuredTable) && SqlIdentifier.Quote(configuredTable) is var former && former != QuotedTable)
        {
            checks.Add($"SELECT '' WHERE to_regclass({PgNames.QuoteLiteral(former)}) IS NOT NULL AND to_regclass({PgNames.QuoteLiteral(QuotedTable)}) IS NULL");
            // Both there: the new one is written, the rows of earlier versions stay in the old one ('=': warned, not refused).
            checks.Add($"SELECT '{Both}' WHERE to_regclass({PgNames.QuoteLiteral(former)}) <> to_regclass({PgNames.QuoteLiteral(QuotedTable)})");
        }

        foreach (var column in _columns)
        {
            if (!PgNames.TryParseName(column.Configured, out var name, out error))
            {
                throw new ArgumentException($"{owner}: {column.Key} '{column.Configured}': {error}", nameof(columns));
            }

            if (!PgNames.IsQuoted(column.Configured) && column.Configured != name)
            {
                // Columns of the table this setting now names (none while it does not exist: CREATE TABLE makes them as they are read now).
                checks.Add($"""
                    SELECT {PgNames.QuoteLiteral(column.Key)} WHERE EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass({PgNames.QuoteLiteral(QuotedTable)}) AND attname = {PgNames.QuoteLiteral(column.Configured)} AND NOT attisdropped)
                        AND NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass({PgNames.QuoteLiteral(QuotedTable)}) AND attname = {PgNames.QuoteLiteral(name)} AND NOT attisdropped)
                    UNION ALL
                    SELECT {PgNames.QuoteLiteral(Both + column.Key)} WHERE EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass({PgNames.QuoteLiteral(QuotedTable)}) AND attname = {PgNames.QuoteLiteral(column.Configured)} AND NOT attisdropped)
                        AND EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass({PgNames.QuoteLiteral(QuotedTable)}) AND attname = {PgNames.QuoteLiteral(name)} AND NOT attisdropped)
                    """);
            }
        }

        _sql = checks.Count == 0 ? null : string.Join("\nUNION ALL\n", checks);
    }

    /// <summary>The table's schema (real name), null for a bare name (found by <c>search_path</c>).</summary>
    public string? Schema { get; }

    /// <summary>The table's real name.</summary>
    public string Table { get; }

    /// <summary>The table as written in SQL to mean it exactly.</summary>
    public string QuotedTable { get; }

    /// <summary>A configured column's real name (<see cref="PgNames.TryParseName"/>), quoted for SQL.</summary>
    public static string QuoteColumn(string configured) =>
        PgNames.TryParseName(configured, out var name, out var error) ? PgNames.QuoteIdentifier(name) : throw new ArgumentException($"column '{configured}': {error}", nameof(configured));

    /// <summary>
    /// Before the first use (and before <c>CREATE TABLE</c>, which would make the new table): fails with the ways on while an
    /// old-spelled table or column is there and the new one is not; warns (once: once it passes it is not asked again) while both
    /// are there, as the new one is written and what earlier versions wrote stays in the old one.
    /// </summary>
    public async ValueTask CheckAsync(NpgsqlDataSource dataSource, ILogger logger, CancellationToken cancellationToken)
    {
        if (_sql is null || _checked)
        {
            return;
        }

        var found = new List<string>();
        await using (var command = dataSource.CreateCommand(_sql))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                found.Add(reader.GetString(0));
            }
        }

        var refused = found.FindAll(f => !f.StartsWith(Both, StringComparison.Ordinal));
        if (refused.Count > 0)
        {
            throw new NpgsqlException(refused.Contains("") ? FormerTableError() : FormerColumnsError(refused));
        }

        if (found.Contains(Both))
        {
            var former = SqlIdentifier.Quote(_configuredTable);
            LogBothTables(logger, _owner, _tableKey, Written(_configuredTable, _tableLocation), QuotedTable, former);
        }

        foreach (var column in _columns.Where(c => found.Contains(Both + c.Key)))
        {
            PgNames.TryParseName(column.Configured, out var name, out _);
            LogBothColumns(logger, _owner, column.Key, Written(column.Configured, column.Location), QuotedTable, PgNames.QuoteIdentifier(name), PgNames.QuoteIdentifier(column.Configured));
        }

        _checked = true;
    }

    /// <summary>Marks a check's row that found the old-spelled table (<c>=</c>) or column (<c>=keyColumn</c>) beside the new one.</summary>
    private const string Both = "=";

    private static string Written(string configured, string? location) => location is null ? configured : $"{configured} ({location})";

    private string FormerTableError()
    {
        var former = SqlIdentifier.Quote(_configuredTable);
        var parts = _configuredTable.Split('.');
        var renames = new List<string>(2);
        if (parts[^1] != Table)
        {
            // The new name quoted too: folded, it may be a reserved word (Order is order), which unquoted would be a syntax error.
            renames.Add($"ALTER TABLE {former} RENAME TO {PgNames.QuoteIdentifier(Table)}");
        }

        if (Schema is not null && parts[0] != Schema)
        {
            renames.Add($"ALTER SCHEMA {PgNames.QuoteIdentifier(parts[0])} RENAME TO {PgNames.QuoteIdentifier(Schema)} (the whole schema: check what else uses it)");
        }

        var written = _tableLocation is null ? "" : $" ({_tableLocation})";
        return $"{_owner}: {_tableKey}: {_configuredTable}{written} now means the table {(Schema is null ? "" : Schema + ".")}{Table}, as PostgreSQL reads the name "
            + $"unquoted (folded to lower case, as psql reads it), and there is no such table; but there is {former}, which earlier versions "
            + $"created and wrote for this setting (they quoted the name as written). Nothing is written into a new table beside it: rename it "
            + $"({string.Join("; then ", renames)}), or keep it by writing the name quoted in the configuration: {_tableKey}: '{former}'. Retried until one of them is done";
    }

    private string FormerColumnsError(List<string> keys)
    {
        var columns = _columns.Where(c => keys.Contains(c.Key)).ToList();
        var what = string.Join("; ", columns.Select(c =>
        {
            PgNames.TryParseName(c.Configured, out var name, out _);
            var written = c.Location is null ? "" : $" ({c.Location})";
            return $"{c.Key}: {c.Configured}{written} now means the column {name}, which {QuotedTable} does not have, but it has \"{c.Configured}\"";
        }));
        var renames = string.Join("; ", columns.Select(c =>
        {
            PgNames.TryParseName(c.Configured, out var name, out _);
            return $"ALTER TABLE {QuotedTable} RENAME COLUMN {PgNames.QuoteIdentifier(c.Configured)} TO {PgNames.QuoteIdentifier(name)}";
        }));
        var quoted = string.Join(", ", columns.Select(c => $"{c.Key}: '\"{c.Configured}\"'"));
        return $"{_owner}: names are read as PostgreSQL reads them unquoted (folded to lower case, as psql reads them): {what}, which earlier versions created "
            + $"for this setting (they quoted the name as written). Nothing is written beside it: rename it ({renames}), or keep it by writing the name quoted "
            + $"in the configuration ({quoted}). Retried until one of them is done";
    }

    [LoggerMessage(EventId = 4300, Level = LogLevel.Warning, Message = "{Owner}: {Setting}: {Configured} means the table {Table} (names are read as PostgreSQL reads them unquoted: folded to lower case), "
        + "which is written; but there is also {Former}, which earlier versions created and wrote for this setting (they quoted the name as written), and the rows they wrote stay there, "
        + "unseen by what reads {Table}. Move the rows still needed into {Table} (INSERT INTO {Table} SELECT … FROM {Former}) and drop {Former} (DROP TABLE {Former}); "
        + "or, to go on writing {Former}, write the name quoted in the configuration: {Setting}: '{Former}'")]
    private static partial void LogBothTables(ILogger logger, string owner, string setting, string configured, string table, string former);

    [LoggerMessage(EventId = 4301, Level = LogLevel.Warning, Message = "{Owner}: {Setting}: {Configured} means the column {Column} of {Table} (names are read as PostgreSQL reads them unquoted: "
        + "folded to lower case), which is written; but {Table} also has {Former}, which earlier versions created and wrote for this setting (they quoted the name as written), and what they "
        + "wrote stays there. Move what is still needed into {Column} (UPDATE {Table} SET {Column} = {Former} WHERE {Column} IS NULL) and drop {Former} (ALTER TABLE {Table} DROP COLUMN {Former}); "
        + "or, to go on writing {Former}, write the name quoted in the configuration: {Setting}: '{Former}'")]
    private static partial void LogBothColumns(ILogger logger, string owner, string setting, string configured, string table, string column, string former);
}
