using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;
using CdcPipeline.Core.Translation.Outbox;
using CdcPipeline.Core.Translation.Rules;

namespace CdcPipeline.Tests.Translation;

/// <summary>Debezium Outbox Event Router semantics on hand-built changes.</summary>
public sealed class OutboxTranslatorTests
{
    private const string RowId = "6f0e8f4e-3c1a-4f53-9c39-5b1e0f4f9a01";

    [Fact]
    public void An_insert_becomes_an_event_with_the_rows_id_aggregate_as_subject_and_route_and_the_payload_as_data()
    {
        var translator = new OutboxTranslator("orders", new OutboxOptions());
        var change = Outbox(ChangeOperation.Create, RowId, "Order", "1001", "OrderPlaced", new RawJson("{\"orderId\":1001,\"total\":\"12.50\"}"));

        var e = Assert.Single(Translate(translator, change));

        Assert.Equal(RowId, e.Id);
        Assert.Equal("OrderPlaced", e.Type);
        Assert.Equal("1001", e.Subject);
        Assert.Equal("Order", e.AggregateType);
        Assert.Equal("/cdcpipeline/orders/public.outbox", e.Source);
        Assert.Equal(change.Position, e.Position);
        Assert.Equal(new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero), e.Time);
        Assert.False(e.IsRawChange);
        // The payload is the event's data as JSON, not a string holding JSON.
        Assert.Contains("\"data\":{\"orderId\":1001,\"total\":\"12.50\"}", EventJson.Serialize(e), StringComparison.Ordinal);
    }

    [Fact]
    public void The_event_keeps_what_its_change_was_and_where_not_the_outbox_row_or_its_bytes()
    {
        // An event waits for every sink's acknowledgement, in hundreds: the row (a wide payload, columns the service stored
        // only for itself) and the record's bytes would stay alive with it, as they no longer do for an event a rule made.
        var translator = new OutboxTranslator("orders", new OutboxOptions());
        var row = Row.From(("id", RowId), ("aggregatetype", "Order"), ("aggregateid", "1001"), ("type", "OrderPlaced"),
            ("payload", new RawJson("{\"orderId\":1001}")), ("internal_note", "credit check: manual override by jdoe"));
        var change = Change("public", "outbox", ChangeOperation.Create, row);
        change = new ChangeEvent
        {
            Kind = change.Kind, Operation = change.Operation, Source = change.Source with { TxId = 771 }, Position = change.Position,
            Key = change.Key, After = change.After, CapturedAt = UtcTimestamp.FromDateTimeOffset(new DateTimeOffset(2026, 11, 25, 10, 0, 1, TimeSpan.Zero)),
            Raw = "{\"op\":\"c\"}"u8.ToArray(), RawKey = "{\"id\":1}"u8.ToArray(), NamedBySource = true,
        };
        var second = Change("public", "outbox", ChangeOperation.Create, row, lsn: 43);

        var e = Assert.Single(Translate(translator, change));
        var next = Assert.Single(Translate(translator, second));

        Assert.Equal((change.Kind, change.Operation, change.Position, change.CapturedAt), (e.Change.Kind, e.Change.Operation, e.Change.Position, e.Change.CapturedAt));
        Assert.Equal(change.Source with { Lsn = null, TxId = null, CommitTime = null }, e.Change.Source);
        Assert.Same(e.Change.Source, next.Change.Source);
        Assert.Equal((null, null, null, null, null, null), (e.Change.After, e.Change.Before, e.Change.Key, e.Change.Raw, e.Change.RawKey, e.Change.Origin));
        // What subscribers get was the payload only, before and after: the event's time is the commit time, read when translated.
        Assert.Equal(new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero), e.Time);
        Assert.DoesNotContain("internal_note", EventJson.Serialize(e), StringComparison.Ordinal);
    }

    [Fact]
    public void A_replayed_insert_gives_the_same_event_id()
    {
        var translator = new OutboxTranslator("orders", new OutboxOptions());
        var first = Translate(translator, Outbox(ChangeOperation.Create, RowId, "Order", "1", "OrderPlaced", new RawJson("{}"), lsn: 100));
        var replayed = Translate(translator, Outbox(ChangeOperation.Read, RowId, "Order", "1", "OrderPlaced", new RawJson("{}"), lsn: 900));
        Assert.Equal(first.Single().Id, replayed.Single().Id);
    }

    [Fact]
    public void Deletes_and_other_tables_produce_nothing()
    {
        var translator = new OutboxTranslator("orders", new OutboxOptions());
        Assert.Empty(Translate(translator, Outbox(ChangeOperation.Delete, RowId, "Order", "1", "OrderPlaced", new RawJson("{}"))));
        Assert.Empty(Translate(translator, Outbox(ChangeOperation.Create, RowId, "Order", "1", "OrderPlaced", new RawJson("{}"), table: "other_outbox")));
    }

    [Fact]
    public void An_update_is_skipped_by_default_and_an_error_when_configured()
    {
        var update = Outbox(ChangeOperation.Update, RowId, "Order", "1", "OrderPlaced", new RawJson("{}"));
        Assert.Empty(Translate(new OutboxTranslator("orders", new OutboxOptions()), update));

        var strict = new OutboxTranslator("orders", new OutboxOptions { InvalidOperation = "error" });
        var error = Assert.Throws<RuleEvaluationException>(() => Translate(strict, update));
        Assert.Contains("public.outbox", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Column_names_route_field_and_header_placement_are_configurable()
    {
        var options = new OutboxOptions
        {
            Table = "sales.events_out",
            Fields = new OutboxFieldOptions { Id = "event_id", Key = "agg_id", Type = "event_type", Payload = "body", Timestamp = "occurred_at" },
            RouteBy = "agg_type",
            AdditionalPlacement = ["tenant:header", "correlation_id:header:correlationid"],
        };
        var translator = new OutboxTranslator("p", options);
        var occurred = new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var change = Change("sales", "events_out", ChangeOperation.Create, Row.From(
            ("event_id", "e-1"), ("agg_type", "Invoice"), ("agg_id", 77L), ("event_type", "InvoiceIssued"),
            ("body", "{\"amount\":\"5.00\"}"), ("occurred_at", UtcTimestamp.FromDateTimeOffset(occurred)),
            ("tenant", "acme"), ("correlation_id", "c-9")));

        var e = Assert.Single(Translate(translator, change));

        Assert.Equal("e-1", e.Id);
        Assert.Equal("InvoiceIssued", e.Type);
        Assert.Equal("77", e.Subject);
        Assert.Equal("Invoice", e.AggregateType);
        Assert.Equal(occurred, e.Time);
        Assert.Equal(new RawJson("{\"amount\":\"5.00\"}"), e.Data); // a text payload is expanded as JSON
        Assert.Equal("acme", e.Extensions!["tenant"]);
        Assert.Equal("c-9", e.Extensions["correlationid"]);
    }

    [Fact]
    public void A_missing_column_is_an_error_naming_the_column_and_the_fix()
    {
        var translator = new OutboxTranslator("p", new OutboxOptions { Fields = new OutboxFieldOptions { Type = "event_type" } });
        var error = Assert.Throws<RuleEvaluationException>(() => Translate(translator, Outbox(ChangeOperation.Create, RowId, "Order", "1", "OrderPlaced", new RawJson("{}"))));
        Assert.Contains("'event_type'", error.Message, StringComparison.Ordinal);
        Assert.Contains("outbox.fields", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "OrderPlaced", "'id'")]
    [InlineData(RowId, "", "'type'")]
    public void An_empty_id_or_type_is_an_error_naming_the_column(string id, string type, string column)
    {
        // CloudEvents id and type must be non-empty; events sharing the id "" would be de-duplicated into one downstream.
        var translator = new OutboxTranslator("p", new OutboxOptions());
        var error = Assert.Throws<RuleEvaluationException>(() => Translate(translator, Outbox(ChangeOperation.Create, id, "Order", "1", type, new RawJson("{}"))));
        Assert.Contains(column, error.Message, StringComparison.Ordinal);
        Assert.Contains("empty", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unsupported_placement_is_rejected()
    {
        var error = Assert.Throws<ArgumentException>(() => new OutboxTranslator("p", new OutboxOptions { AdditionalPlacement = ["tenant:partition"] }));
        Assert.Contains("header", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("type:header")]
    [InlineData("event_type:header:type")]
    [InlineData("occurred_at:header:time")]
    [InlineData("kind:header:cdckind")]
    public void A_header_named_like_an_attribute_the_event_already_has_is_rejected_at_start_up(string placement)
    {
        var error = Assert.Throws<ArgumentException>(() => new OutboxTranslator("p", new OutboxOptions { AdditionalPlacement = [placement] }));
        Assert.Contains(placement, error.Message, StringComparison.Ordinal);
        Assert.Contains("alias", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_routing_translator_gives_outbox_rows_to_the_outbox_only_and_everything_else_to_the_other_translator()
    {
        var others = new List<ChangeEvent>();
        var routing = new OutboxRoutingTranslator(new OutboxTranslator("p", new OutboxOptions()), new Capture(others));
        var outboxChange = Outbox(ChangeOperation.Create, RowId, "Order", "1", "OrderPlaced", new RawJson("{}"));
        var legacyChange = Change("public", "tb_ord_mst", ChangeOperation.Create, Row.From(("ord_no", 1L)));

        var events = new List<DomainEvent>();
        routing.Translate(outboxChange, events);
        routing.Translate(legacyChange, events);

        Assert.Equal(RowId, Assert.Single(events).Id);
        Assert.Same(legacyChange, Assert.Single(others));
    }

    private static List<DomainEvent> Translate(IChangeTranslator translator, ChangeEvent change)
    {
        var output = new List<DomainEvent>();
        translator.Translate(change, output);
        return output;
    }

    private static ChangeEvent Outbox(ChangeOperation op, string id, string aggregateType, string aggregateId, string type, object? payload, long lsn = 42, string table = "outbox")
    {
        var row = Row.From(("id", id), ("aggregatetype", aggregateType), ("aggregateid", aggregateId), ("type", type), ("payload", payload));
        return Change("public", table, op, row, lsn);
    }

    private static ChangeEvent Change(string schema, string table, ChangeOperation op, Row row, long lsn = 42) => new()
    {
        Kind = ChangeKind.Change,
        Operation = op,
        Source = new SourceInfo
        {
            Schema = schema,
            Table = table,
            Lsn = lsn,
            CommitTime = UtcTimestamp.FromDateTimeOffset(new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero)),
        },
        Position = new SourcePosition("slot", lsn),
        Key = Row.From((row.ColumnName(0), row[0])),
        Before = op == ChangeOperation.Delete ? row : null,
        After = op == ChangeOperation.Delete ? null : row,
    };

    private sealed class Capture(List<ChangeEvent> seen) : IChangeTranslator
    {
        public void Translate(ChangeEvent change, ICollection<DomainEvent> output) => seen.Add(change);
    }
}
