using System.ComponentModel.DataAnnotations;
using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Translation.Outbox;

/// <summary>
/// <c>outbox:</c> — an outbox table read with Debezium's Outbox Event Router semantics. The names mirror
/// the router's settings: <c>table.field.event.id</c> → <c>fields.id</c>, <c>…key</c> → <c>fields.key</c>,
/// <c>…type</c> → <c>fields.type</c>, <c>…payload</c> → <c>fields.payload</c>, <c>…timestamp</c> →
/// <c>fields.timestamp</c>, <c>route.by.field</c> → <c>routeBy</c>,
/// <c>table.fields.additional.placement</c> → <c>additionalPlacement</c>,
/// <c>table.expand.json.payload</c> → <c>expandJsonPayload</c>, <c>debezium.op.invalid.behavior</c> → <c>invalidOperation</c>.
/// </summary>
public sealed class OutboxOptions
{
    /// <summary>
    /// <c>[schema.]table</c>; a bare name means schema <c>public</c>. Read as PostgreSQL reads the name unquoted (as
    /// <c>source.outboxPolling.table</c> is): <c>Outbox</c> is the table <c>public.outbox</c>.
    /// </summary>
    [Required(ErrorMessage = "the outbox needs a table (schema.table)")]
    [RegularExpression(PgNames.TablePattern, ErrorMessage = "use [schema.]table with letters, digits and '_' (read as PostgreSQL reads it unquoted: Outbox is public.outbox)")]
    public string Table { get; set; } = "public.outbox";

    public OutboxFieldOptions Fields { get; set; } = new();

    /// <summary>The column whose value is the aggregate type: the event's route (<see cref="DomainEvent.AggregateType"/>).</summary>
    [Required(AllowEmptyStrings = false)]
    public string RouteBy { get; set; } = "aggregatetype";

    /// <summary>Debezium's <c>column:placement[:alias]</c> entries; placement <c>header</c> (a CloudEvents extension attribute / message header).</summary>
    public List<string> AdditionalPlacement { get; set; } = [];

    /// <summary>A payload held in a text column is parsed as JSON (a jsonb/json column always is).</summary>
    public bool ExpandJsonPayload { get; set; } = true;

    /// <summary>An update of an outbox row: <c>warn</c> (logged, skipped — Debezium's default) or <c>error</c> (dead-lettered).</summary>
    [RegularExpression("^(?i:warn|error)$", ErrorMessage = "must be warn or error")]
    public string InvalidOperation { get; set; } = "warn";

    /// <summary>The table <see cref="Table"/> names, <c>schema.table</c>, folded to lower case as PostgreSQL folds an unquoted name.</summary>
    public string QualifiedTable => PgNames.QualifiedTable(Table);
}
