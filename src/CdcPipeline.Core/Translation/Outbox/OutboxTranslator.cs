using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Translation.Rules;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CdcPipeline.Core.Translation.Outbox;

/// <summary>
/// Debezium's Outbox Event Router for either capture path (and the polling relay): an insert into the
/// outbox table becomes one domain event whose id is the row's id (already unique and stable, so a
/// replay gives the same id), subject the aggregate id, type the type column, route the aggregate
/// type, data the payload, and extension attributes the additional columns placed as headers.
/// Deletes are ignored — services commonly delete outbox rows right after inserting them, which
/// leaves the insert in the WAL — and so are snapshot-free truncates; an update is not an event
/// (warned and skipped, or an error, as configured). A row it cannot make an event of (a required column null or empty,
/// a payload that is not JSON, a column the configuration names that the table lacks) is refused with a
/// <see cref="RuleEvaluationException"/> of rule <see cref="RuleId"/>, as a rule refuses a row: the runner dead-letters the
/// change and logs one line naming table, row, column and what to do, no stack trace.
/// </summary>
public sealed partial class OutboxTranslator : IChangeTranslator
{
    public const string RuleId = "outbox";

    private readonly OutboxOptions _options;
    private readonly string _source;
    private readonly List<(string Column, string Header)> _headers = [];
    private readonly bool _errorOnInvalid;
    private readonly ILogger _logger;
    private readonly string _schemaName;
    private readonly string _tableName;

    // The last event's source without its per-record fields, shared by the events' headers (see ChangeEvent.Header).
    // Read and replaced without a lock: a race only makes one more instance.
    private SourceInfo? _headerSource;

    public OutboxTranslator(string pipelineName, OutboxOptions options, ILogger<OutboxTranslator>? logger = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(pipelineName);
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        Table = options.QualifiedTable;
        var dot = Table.IndexOf('.', StringComparison.Ordinal);
        _schemaName = Table[..dot];
        _tableName = Table[(dot + 1)..];
        _source = EventSources.For(pipelineName, Table);
        _errorOnInvalid = string.Equals(options.InvalidOperation, "error", StringComparison.OrdinalIgnoreCase);
        _logger = logger ?? (ILogger)NullLogger.Instance;
        foreach (var entry in options.AdditionalPlacement)
        {
            _headers.Add(ParsePlacement(entry));
        }
    }

    /// <summary>The outbox table, <c>schema.table</c>, folded to lower case as PostgreSQL folds the configured (unquoted) name.</summary>
    public string Table { get; }

    /// <summary>
    /// A change of the outbox table, whichever way its name was spelled: the WAL, Debezium and the polling relay carry the
    /// real name (<c>public.outbox</c> for <c>Outbox</c>). Compared ignoring case, so a table created with a quoted
    /// mixed-case name (<c>"Outbox"</c>), which the WAL carries as such, is still the outbox it was before names were folded.
    /// </summary>
    public bool Handles(ChangeEvent change) =>
        string.Equals(change.Source.Table, _tableName, StringComparison.OrdinalIgnoreCase)
        && string.Equals(change.Source.Schema, _schemaName, StringComparison.OrdinalIgnoreCase);

    public void Translate(ChangeEvent change, ICollection<DomainEvent> output)
    {
        if (change.Kind != ChangeKind.Change || !Handles(change))
        {
            return;
        }

        switch (change.Operation)
        {
            case ChangeOperation.Create or ChangeOperation.Read:
                break;
            case ChangeOperation.Update:
                if (_errorOnInvalid)
                {
                    throw Refused($"outbox table {Table}: {RowOf(change.After)} was updated at {change.Position}, and an update is not an event (outbox rows are inserted, never updated); set outbox.invalidOperation: warn to skip updates, or stop the service updating its outbox rows");
                }

                LogUpdateSkipped(_logger, Table, change.Position);
                return;
            default:
                // Deletes (and truncates) carry no event: Debezium's router drops them too.
                return;
        }

        var row = change.After ?? throw Refused($"outbox table {Table}: the insert at {change.Position} carries no row image, so there is no event to make of it; check what the capture sent (dlq list --stage translate)");
        var fields = _options.Fields;
        var id = NonEmpty(Text(Required(row, fields.Id, change)), fields.Id, change);
        var type = NonEmpty(Text(Required(row, fields.Type, change)), fields.Type, change);
        var key = row.TryGetValue(fields.Key, out var k) && k is not null ? Text(k) : null;
        var aggregateType = row.TryGetValue(_options.RouteBy, out var route) && route is not null ? Text(route) : null;
        if (!row.TryGetValue(fields.Payload, out var payload))
        {
            throw Missing(fields.Payload, change);
        }

        Dictionary<string, string>? extensions = null;
        foreach (var (column, header) in _headers)
        {
            if (!row.TryGetValue(column, out var value))
            {
                throw Missing(column, change);
            }

            if (value is not null)
            {
                (extensions ??= new Dictionary<string, string>(StringComparer.Ordinal))[header] = Text(value);
            }
        }

        // The event keeps only what its change was and where, as an event a rule made does: not the row (its payload and
        // headers were taken above; other columns are the service's own) nor the record's bytes, which would otherwise
        // stay alive with the event until every sink acknowledged it.
        var source = _headerSource = change.Source.WithoutRecordFields(_headerSource);
        output.Add(new DomainEvent
        {
            Id = id,
            Type = type,
            Source = _source,
            Subject = key,
            AggregateType = aggregateType,
            Time = EventTime(row, change),
            Data = Payload(payload, change),
            RuleId = RuleId,
            Position = change.Position,
            Change = change.Header(source),
            Extensions = extensions,
        });
    }

    private object? Payload(object? payload, ChangeEvent change)
    {
        if (payload is string text && _options.ExpandJsonPayload)
        {
            try
            {
                using var _ = JsonDocument.Parse(text);
            }
            catch (JsonException e)
            {
                // The parser's message says where (line, byte); as a cause it would make the refusal look like a bug.
                throw Refused($"outbox table {Table}: column '{_options.Fields.Payload}' of {RowOf(change.After)} at {change.Position} is not JSON ({e.Message}); have the service store JSON in it, or set outbox.expandJsonPayload: false to carry it as a string");
            }

            return new RawJson(text);
        }

        return payload;
    }

    private DateTimeOffset? EventTime(Row row, ChangeEvent change)
    {
        if (_options.Fields.Timestamp is { } column && row.TryGetValue(column, out var value))
        {
            switch (value)
            {
                case UtcTimestamp utc:
                    return utc.ToDateTimeOffset();
                case LocalTimestamp local:
                    return new DateTimeOffset(Micros.ToDateTime(local.MicrosSinceEpoch), TimeSpan.Zero);
                case long epochMillis:
                    return DateTimeOffset.FromUnixTimeMilliseconds(epochMillis);
            }
        }

        return (change.Source.CommitTime ?? change.CapturedAt)?.ToDateTimeOffset();
    }

    private object Required(Row row, string column, ChangeEvent change)
    {
        if (!row.TryGetValue(column, out var value))
        {
            throw Missing(column, change);
        }

        return value ?? throw Refused($"outbox table {Table}: column '{column}' is null in {RowOf(row)} at {change.Position}; every outbox row needs it (it becomes the CloudEvents {Attribute(column)}): fix the service writing the outbox, or point outbox.fields at the column that has it");
    }

    /// <summary>CloudEvents id and type are non-empty strings; an empty id would also make every such event a duplicate of the first.</summary>
    private string NonEmpty(string value, string column, ChangeEvent change) =>
        value.Length > 0 ? value : throw Refused($"outbox table {Table}: column '{column}' is empty in {RowOf(change.After)} at {change.Position}; it becomes the CloudEvents {Attribute(column)}, which must not be empty: fix the service writing the outbox");

    private RuleEvaluationException Missing(string column, ChangeEvent change) =>
        Refused($"outbox table {Table} has no column '{column}' ({RowOf(change.After)} at {change.Position}; its columns: {string.Join(", ", change.After?.Keys ?? [])}); fix outbox.fields / outbox.additionalPlacement to name its columns, then redrive the change (dlq redrive --stage translate)");

    private static RuleEvaluationException Refused(string message) => new(message) { RuleId = RuleId };

    /// <summary>The row as the reader finds it in the table: by its id when it has one.</summary>
    private string RowOf(Row? row) =>
        row is not null && row.TryGetValue(_options.Fields.Id, out var id) && id is not null && Text(id) is { Length: > 0 } text
            ? $"row {_options.Fields.Id} '{text}'"
            : $"a row without {_options.Fields.Id}";

    private string Attribute(string column) => column == _options.Fields.Id ? "id" : "type";

    private static string Text(object value) => value switch
    {
        string s => s,
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static (string Column, string Header) ParsePlacement(string entry)
    {
        var parts = entry.Split(':');
        if (parts.Length is < 2 or > 3 || parts[0].Length == 0)
        {
            throw new ArgumentException($"outbox.additionalPlacement entry '{entry}' is not 'column:header[:alias]'");
        }

        if (!string.Equals(parts[1], "header", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"outbox.additionalPlacement entry '{entry}': placement '{parts[1]}' is not supported; use 'header' (events are CloudEvents, whose envelope is fixed)");
        }

        var header = parts.Length == 3 ? parts[2] : parts[0];
        if (!ExtensionName().IsMatch(header))
        {
            throw new ArgumentException($"outbox.additionalPlacement entry '{entry}': '{header}' is not a CloudEvents extension name (lower-case letters and digits, at most 20); give an alias: '{parts[0]}:header:alias'");
        }

        if (Json.CloudEventJson.IsReservedAttribute(header))
        {
            // As a header it would shadow the event's own attribute (a second ce_type), and the JSON form cannot carry it at all.
            throw new ArgumentException($"outbox.additionalPlacement entry '{entry}': '{header}' is a CloudEvents attribute the event already has; give an alias: '{parts[0]}:header:alias'");
        }

        return (parts[0], header);
    }

    [GeneratedRegex("^[a-z0-9]{1,20}$")]
    private static partial Regex ExtensionName();

    [LoggerMessage(EventId = 1300, Level = LogLevel.Warning, Message = "Outbox table {Table}: update at {Position} skipped (outbox rows are inserted, not updated)")]
    private static partial void LogUpdateSkipped(ILogger logger, string table, SourcePosition position);
}
