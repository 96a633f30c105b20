using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CdcPipeline.Commands;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;
using CdcPipeline.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Tests.Commands;

public class TranslateCommandTests
{
    private static string Sample(params string[] parts)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "CdcPipeline.sln")))
        {
            dir = dir.Parent;
        }

        Assert.NotNull(dir);
        return Path.Combine([dir.FullName, "samples", "legacy-orders", .. parts]);
    }

    private static async Task<(int Exit, string[] Lines, string Err)> Run(Stream input)
    {
        using var output = new MemoryStream();
        using var errors = new StringWriter();
        var translator = Translators.Create(Sample("rules"), "legacy-orders");
        var exit = await TranslateCommand.RunAsync(input, output, errors, DebeziumDecoderOptions.Default, translator, TestContext.Current.CancellationToken);
        var lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return (exit, lines, errors.ToString());
    }

    [Fact]
    public async Task The_sample_recording_translates_into_the_five_domain_event_types_in_source_order()
    {
        await using var input = File.OpenRead(Sample("debezium", "changes.jsonl"));
        var (exit, lines, errors) = await Run(input);

        Assert.Equal("", errors);
        Assert.Equal(0, exit);
        var events = lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(
            ["CustomerRegistered:C0000003", "CustomerAddressChanged:C0000002", "OrderPlaced:1000003", "OrderShipped:1000002", "OrderCancelled:1000003"],
            events.Select(e => $"{e.GetProperty("type").GetString()}:{e.GetProperty("subject").GetString()}"));
        Assert.All(events, e => Assert.Equal("1.0", e.GetProperty("specversion").GetString()));
        Assert.Equal("2024-03-02", events[3].GetProperty("data").GetProperty("shippedOn").GetString());
    }

    [Fact]
    public async Task A_rule_comparing_a_timestamp_column_with_text_is_named_once_at_the_first_record_of_its_schema_as_run_names_it()
    {
        // The Kafka source checks the rules against each record schema's column types (event 1117); the dry run did not,
        // so its author saw only the failure on every record, not which expression mistyped which column and how to fix it.
        var rules = Directory.CreateTempSubdirectory("cdc-translate-check-");
        try
        {
            await File.WriteAllTextAsync(Path.Combine(rules.FullName, "tb_ord_mst.yaml"), """
                table: public.tb_ord_mst
                events:
                  - type: OrderTouched
                    when: after.upd_ts > "2024-01-01"
                    data:
                      orderId: after.ord_no
                """, TestContext.Current.CancellationToken);
            await using var input = File.OpenRead(Sample("debezium", "changes.jsonl"));
            using var output = new MemoryStream();
            using var errors = new StringWriter();
            var translator = Translators.Create(rules.FullName, "legacy-orders");
            await TranslateCommand.RunAsync(input, output, errors, DebeziumDecoderOptions.Default, translator, TestContext.Current.CancellationToken);

            var lines = errors.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var warning = Assert.Single(lines, l => l.Contains("given the column types of public.tb_ord_mst", StringComparison.Ordinal));
            Assert.StartsWith("translate: The rule tb_ord_mst#OrderTouched (", warning, StringComparison.Ordinal);
            Assert.Contains("compares a timestamp (after.upd_ts, int64 io.debezium.time.MicroTimestamp) with text (\"2024-01-01\")", warning, StringComparison.Ordinal);
            // Said before the first record it fails on, not after each.
            Assert.True(Array.IndexOf(lines, warning) == 0, string.Join('\n', lines));
            Assert.True(lines.Length > 1, "the records still fail, each on its own line");
        }
        finally
        {
            rules.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Ids_are_the_same_on_a_second_run_so_a_replay_can_be_deduplicated()
    {
        await using var first = File.OpenRead(Sample("debezium", "changes.jsonl"));
        await using var second = File.OpenRead(Sample("debezium", "changes.jsonl"));
        var a = (await Run(first)).Lines;
        var b = (await Run(second)).Lines;
        Assert.Equal(a, b);
        Assert.Equal(a.Length, a.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("id").GetString()).Distinct().Count());
    }

    [Fact]
    public async Task A_create_with_Debeziums_oldkey_header_is_a_renumbering_not_a_registration()
    {
        var lines = await File.ReadAllLinesAsync(Sample("debezium", "changes.jsonl"), TestContext.Current.CancellationToken);
        var insert = lines.Select(l => JsonNode.Parse(l)!.AsObject())
            .First(r => r["topic"]!.GetValue<string>().EndsWith(".tb_cust_mst", StringComparison.Ordinal)
                && JsonNode.Parse(r["payload"]!.GetValue<string>())!["payload"]!["op"]!.GetValue<string>() == "c");
        var registered = JsonDocument.Parse(Assert.Single((await Run(Line(insert))).Lines)).RootElement;
        Assert.Equal("CustomerRegistered", registered.GetProperty("type").GetString());

        // The create Debezium writes for an update of cust_no carries the old key in a header (kcat -J: [name, value, …]).
        var oldKey = insert["key"]!.GetValue<string>().Replace(registered.GetProperty("subject").GetString()!, "C0000099", StringComparison.Ordinal);
        insert["headers"] = new JsonArray("__debezium.oldkey", oldKey);
        var (exit, output, errors) = await Run(Line(insert));

        Assert.Equal("", errors);
        Assert.Equal(0, exit);
        Assert.Empty(output);
    }

    private static MemoryStream Line(JsonObject record) => new(Encoding.UTF8.GetBytes(record.ToJsonString()));

    [Fact]
    public async Task A_bad_line_is_reported_with_its_line_number_and_the_rest_still_translate()
    {
        var lines = await File.ReadAllLinesAsync(Sample("debezium", "changes.jsonl"), TestContext.Current.CancellationToken);
        var broken = lines.Take(5).Append("{\"schema\": tru").Concat(lines.Skip(5));
        await using var input = new MemoryStream(Encoding.UTF8.GetBytes(string.Join('\n', broken)));
        var (exit, output, errors) = await Run(input);

        Assert.Equal(1, exit);
        Assert.StartsWith("line 6", errors, StringComparison.Ordinal);
        Assert.Equal(5, output.Length);
    }
    [Fact]
    public async Task The_canonical_changes_decode_prints_translate_into_the_events_of_their_Debezium_records()
    {
        // decode … | translate --rules DIR: the dry run of rules for the embedded path, whose changes have this form.
        await using var debezium = File.OpenRead(Sample("debezium", "changes.jsonl"));
        await using var changes = File.OpenRead(Sample("debezium", "expected-decode.jsonl"));
        var (_, expected, _) = await Run(debezium);
        var (exit, lines, errors) = await Run(changes);

        Assert.Equal("", errors);
        Assert.Equal(0, exit);
        Assert.Equal(
            expected.Select(l => What(JsonDocument.Parse(l).RootElement)),
            lines.Select(l => What(JsonDocument.Parse(l).RootElement)));

        static string What(JsonElement e) =>
            $"{e.GetProperty("type").GetString()}:{e.GetProperty("subject").GetString()}:{e.GetProperty("data").GetRawText()}";
    }

    [Fact]
    public async Task A_rule_computing_with_a_decimal_that_a_canonical_line_gives_as_text_says_so_and_what_to_do()
    {
        // The same change: as a Debezium record ord_amt is a decimal, as decode prints it (a canonical line) it is text.
        using var rules = new Translation.RuleFiles();
        rules.Write("tb_ord_mst.yaml", """
            table: public.tb_ord_mst
            key: ord_no
            events:
              - type: OrderPlaced
                when: op == "c" && after.ord_amt > 100
                data:
                  doubled: after.ord_amt * 2
            """);
        var translator = Translators.Create(rules.Directory, "legacy-orders");
        var debezium = File.ReadAllLines(Sample("debezium", "changes.jsonl")).Where(l => l.Contains("\\\"op\\\":\\\"c\\\"", StringComparison.Ordinal)).ToList();
        var canonical = File.ReadAllLines(Sample("debezium", "expected-decode.jsonl")).Where(l => l.Contains("\"op\":\"c\"", StringComparison.Ordinal)).ToList();
        Assert.Equal(debezium.Count, canonical.Count);

        var (typedExit, typedLines, typedErrors) = await Run(translator, string.Join("\n", debezium));
        var (exit, lines, errors) = await Run(translator, string.Join("\n", canonical));

        Assert.Equal(("", 0), (typedErrors, typedExit));
        Assert.Contains("\"doubled\":\"517.40\"", Assert.Single(typedLines), StringComparison.Ordinal); // 258.70 * 2
        // before: only "Operator '>' cannot be applied to operands of type 'string' and 'decimal'", though run translates it
        Assert.Equal(1, exit);
        Assert.Empty(lines);
        var first = errors.Split('\n')[0];
        Assert.Contains("cannot be applied to operands of type 'string'", first, StringComparison.Ordinal);
        Assert.Contains("this canonical change line carries no types", first, StringComparison.Ordinal);
        Assert.Contains("number(after.ord_amt)", first, StringComparison.Ordinal);
        Assert.Contains("the Debezium records", first, StringComparison.Ordinal);
    }

    private static async Task<(int Exit, string[] Lines, string Err)> Run(IChangeTranslator translator, string input)
    {
        using var output = new MemoryStream();
        using var errors = new StringWriter();
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(input + "\n"));
        var exit = await TranslateCommand.RunAsync(stream, output, errors, DebeziumDecoderOptions.Default, translator, TestContext.Current.CancellationToken);
        return (exit, Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries), errors.ToString());
    }

    [Fact]
    public async Task A_canonical_change_with_its_position_gets_the_events_and_ids_run_gives_it()
    {
        // The change as the embedded capture hands it to the rules in `run`: named by slot, commit LSN and index.
        var change = new ChangeEvent
        {
            Kind = ChangeKind.Change,
            Operation = ChangeOperation.Update,
            Source = new SourceInfo { Schema = "public", Table = "tb_ord_mst", Lsn = 24_023_400, TxId = 775 },
            Position = SourcePosition.ForLsn("legacy_orders", 24_023_512, 3),
            Key = Row.From([("ord_no", "1000002")]),
            Before = Row.From([("ord_no", "1000002"), ("cust_no", "C0000002"), ("ord_sts_cd", "P"), ("ord_amt", 12.50m), ("shp_dt", "        ")]),
            After = Row.From([("ord_no", "1000002"), ("cust_no", "C0000002"), ("ord_sts_cd", "C"), ("ord_amt", 12.50m), ("shp_dt", "        ")]),
        };
        var made = new List<DomainEvent>();
        Translators.Create(Sample("rules"), "legacy-orders").Translate(change, made);
        var expected = made.Select(e =>
        {
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            EventJson.Write(buffer, e);
            return Encoding.UTF8.GetString(buffer.WrittenSpan);
        }).ToArray();
        Assert.NotEmpty(expected);

        // The line as decode prints it, with the position dlq list shows for the change.
        var line = JsonNode.Parse(CanonicalJson.Serialize(change))!.AsObject();
        line["position"] = change.Position.ToString();
        var (exit, lines, errors) = await Run(Line(line));

        Assert.Equal("", errors);
        Assert.Equal(0, exit);
        Assert.Equal(expected, lines);
    }

    [Fact]
    public async Task A_snapshot_row_s_line_with_its_origin_gets_the_ids_run_gives_it_not_its_position_s()
    {
        // An embedded snapshot row is named by its request, table, key and row (its origin), which the canonical JSON lacks.
        var change = new ChangeEvent
        {
            Kind = ChangeKind.Change,
            Operation = ChangeOperation.Read,
            Source = new SourceInfo { Schema = "public", Table = "tb_ord_mst", Lsn = 24_023_400, Snapshot = SnapshotMarker.Incremental },
            Position = SourcePosition.ForLsn("legacy_orders", 24_023_511, 4),
            Key = Row.From([("ord_no", "1000002")]),
            After = Row.From([("ord_no", "1000002"), ("ord_sts_cd", "C")]),
            SnapshotRequest = "signal 'ops-7' at 0/16E8F10",
        };
        var rules = Translation.RuleFiles.Translator("""
            table: public.tb_ord_mst
            key: ord_no
            events:
              - type: OrderRead
                when: op == "r"
            """);
        var line = JsonNode.Parse(CanonicalJson.Serialize(change))!.AsObject();
        line["position"] = change.Position.ToString();
        var (_, withoutOrigin, _) = await Run(rules, line.ToJsonString());
        line["origin"] = change.Origin;
        var (exit, lines, errors) = await Run(rules, line.ToJsonString());

        static string Id(string cloudEvent) => JsonNode.Parse(cloudEvent)!["id"]!.GetValue<string>();
        var run = Assert.Single(RunRules(rules, change)); // what run makes of the change
        Assert.Equal(("", 0), (errors, exit));
        Assert.Equal(run.Id, Id(Assert.Single(lines)));
        // without it, named by its position (as before letters kept it): another id
        Assert.Equal(EventIds.For(change.Position, run.RuleId!), Id(Assert.Single(withoutOrigin)));
        Assert.NotEqual(run.Id, Id(Assert.Single(withoutOrigin)));
    }

    private static List<DomainEvent> RunRules(IChangeTranslator rules, ChangeEvent change)
    {
        var made = new List<DomainEvent>();
        rules.Translate(change, made);
        return made;
    }

    [Fact]
    public async Task A_line_with_no_table_is_refused_with_its_line_number_and_the_rest_still_translate()
    {
        var lines = await File.ReadAllLinesAsync(Sample("debezium", "changes.jsonl"), TestContext.Current.CancellationToken);
        string[] unplaced =
        [
            // A bare Debezium value without its source block: nothing says which table it is from.
            """{"before":null,"after":{"ord_no":"1000009","ord_sts_cd":"P"},"op":"c","ts_ms":1}""",
            // A change written by hand without its table.
            """{"kind":"change","op":"c","schema":"public","lsn":1,"txId":2,"snapshot":false,"key":{"ord_no":"1000009"},"before":null,"after":{"ord_no":"1000009"}}""",
            // … and one without its operation (rules test op: it would meet none of them).
            """{"kind":"change","schema":"public","table":"tb_ord_mst","key":{"ord_no":"1000009"},"before":null,"after":{"ord_no":"1000009"}}""",
        ];
        var input = lines.Take(2).Concat(unplaced).Concat(lines.Skip(2));
        var (exit, output, errors) = await Run(new MemoryStream(Encoding.UTF8.GetBytes(string.Join('\n', input))));

        Assert.Equal(1, exit);
        var reported = errors.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, reported.Length);
        Assert.StartsWith("line 3: ", reported[0], StringComparison.Ordinal);
        Assert.Contains("\"source\"", reported[0], StringComparison.Ordinal);
        Assert.StartsWith("line 4: ", reported[1], StringComparison.Ordinal);
        Assert.Contains("\"table\"", reported[1], StringComparison.Ordinal);
        Assert.StartsWith("line 5: ", reported[2], StringComparison.Ordinal);
        Assert.Contains("\"op\"", reported[2], StringComparison.Ordinal);
        Assert.Equal(5, output.Length);
    }

    [Fact]
    public async Task A_dead_letter_file_translates_its_translate_letters_as_run_would_and_refuses_the_others_by_line()
    {
        // translate --rules DIR out/dead.jsonl: the dry run of edited rules against the letters as the file holds them. It took a
        // jq one-liner (and the values then read as their JSON: the timestamps compared as strings, an error).
        var ct = TestContext.Current.CancellationToken;
        var dir = Directory.CreateTempSubdirectory("cdc-translate-letters-").FullName;
        try
        {
            var rules = Path.Combine(dir, "rules");
            Directory.CreateDirectory(rules);
            await File.WriteAllTextAsync(Path.Combine(rules, "orders.yaml"), """
                table: public.orders
                aggregate: Order
                key: id
                events:
                  - type: OrderShipped
                    when: after.shipped_at > after.ordered_at
                    data:
                      total: after.amount + 1
                      shippedAt: after.shipped_at
                """, ct);
            var translator = Translators.Create(rules, "dlq-typed");

            // The change as the embedded capture makes it (values typed by the decoder), and what run makes of it.
            var change = new ChangeEvent
            {
                Kind = ChangeKind.Change,
                Operation = ChangeOperation.Update,
                Source = new SourceInfo { Schema = "public", Table = "orders", Lsn = 24_023_400, TxId = 775 },
                Position = SourcePosition.ForLsn("dlq_typed", 24_023_512, 3),
                Key = Row.From([("id", 1)]),
                After = Row.From([
                    ("id", 1),
                    ("amount", CdcPipeline.Postgres.Types.PgTextValues.TryGetBuiltIn(1700)!("150.00")),
                    ("ordered_at", CdcPipeline.Postgres.Types.PgTextValues.TryGetBuiltIn(1114)!("2024-03-01 10:00:00")),
                    ("shipped_at", CdcPipeline.Postgres.Types.PgTextValues.TryGetBuiltIn(1114)!("2024-03-02 09:30:00.25")),
                ]),
            };
            var made = new List<DomainEvent>();
            translator.Translate(change, made);
            var expected = Assert.Single(made.Select(e =>
            {
                var buffer = new System.Buffers.ArrayBufferWriter<byte>();
                EventJson.Write(buffer, e);
                return Encoding.UTF8.GetString(buffer.WrittenSpan);
            }));

            // The file as run writes it: the translate letter (as PipelineRunner writes it), a sink's letter, a decode letter.
            var path = Path.Combine(dir, "dead.jsonl");
            await using (var queue = new CdcPipeline.Core.Sinks.JsonLinesDeadLetterQueue(path))
            {
                await queue.WriteAsync(new CdcPipeline.Core.Sinks.DeadLetter
                {
                    Stage = "translate",
                    Error = "rule OrderShipped: cannot compare",
                    Position = change.Position,
                    Payload = Encoding.UTF8.GetBytes(CanonicalJson.Serialize(change)),
                    ValueTypes = CanonicalValueTypes.Of(change),
                    FailedAt = DateTimeOffset.UnixEpoch,
                    Attempts = 1,
                }, ct);
                await queue.WriteAsync(new CdcPipeline.Core.Sinks.DeadLetter
                {
                    Stage = "billing-hook",
                    Error = "HTTP 500",
                    EventId = made[0].Id,
                    EventType = made[0].Type,
                    Position = change.Position,
                    Payload = Encoding.UTF8.GetBytes("""{"orderId":1}"""),
                    FailedAt = DateTimeOffset.UnixEpoch,
                    Attempts = 3,
                }, ct);
                await queue.WriteAsync(new CdcPipeline.Core.Sinks.DeadLetter
                {
                    Stage = "decode",
                    Error = "not JSON",
                    Position = change.Position,
                    Payload = "garbage"u8.ToArray(),
                    FailedAt = DateTimeOffset.UnixEpoch,
                    Attempts = 1,
                }, ct);
            }

            using var output = new MemoryStream();
            using var errors = new StringWriter();
            await using var input = File.OpenRead(path);
            var exit = await TranslateCommand.RunAsync(input, output, errors, DebeziumDecoderOptions.Default, translator, ct);
            var lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);

            // Same event, same id as run: the timestamps compared as timestamps, the amount added as a number.
            Assert.Equal([expected], lines);
            Assert.Equal(made[0].Id, JsonDocument.Parse(lines[0]).RootElement.GetProperty("id").GetString());
            Assert.Equal("151.00", JsonDocument.Parse(lines[0]).RootElement.GetProperty("data").GetProperty("total").ToString());
            Assert.Equal(1, exit);
            var reported = errors.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(2, reported.Length);
            Assert.StartsWith("line 2: a dead letter of stage 'billing-hook': ", reported[0], StringComparison.Ordinal);
            Assert.StartsWith("line 3: a dead letter of stage 'decode': ", reported[1], StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
    [Fact]
    public async Task A_kafka_source_s_translate_letter_is_translated_with_config_as_its_source_decodes_the_record()
    {
        // Before: refused ("not the embedded path's canonical change") while dlq redrive --config decoded the same letter.
        var ct = TestContext.Current.CancellationToken;
        var dir = Directory.CreateTempSubdirectory("cdc-translate-kafka-letter-").FullName;
        try
        {
            var config = Path.Combine(dir, "pipeline.yaml");
            await File.WriteAllTextAsync(config, """
                name: legacy-orders
                source:
                  kafka:
                    bootstrapServers: "127.0.0.1:1"
                    topics: [legacy.public.tb_ord_mst]
                    format: json
                sinks:
                  - name: copy
                    file: { path: out/events.jsonl }
                deadLetter:
                  path: out/dead.jsonl
                """, ct);

            // The sample's first order as the Kafka source read it, and the events translate makes of it as kcat -J has it.
            var kcatLine = File.ReadLines(Sample("debezium", "changes.jsonl"))
                .First(l => l.Contains("\"topic\":\"legacy.public.tb_ord_mst\"", StringComparison.Ordinal) && l.Contains("\\\"op\\\":\\\"c\\\"", StringComparison.Ordinal));
            var record = KcatRecord.TryParse(Encoding.UTF8.GetBytes(kcatLine), 1)!;
            await using var kcat = new MemoryStream(Encoding.UTF8.GetBytes(kcatLine + "\n"));
            var (kcatExit, expected, kcatErrors) = await Run(kcat);
            Assert.True(kcatExit == 0, kcatErrors);
            Assert.Equal("OrderPlaced", JsonDocument.Parse(Assert.Single(expected)).RootElement.GetProperty("type").GetString());

            // The letter run writes when a rule fails on that record: the record itself, with its key and where it was read.
            var letters = Path.Combine(dir, "dead.jsonl");
            await using (var queue = new CdcPipeline.Core.Sinks.JsonLinesDeadLetterQueue(letters))
            {
                await queue.WriteAsync(new CdcPipeline.Core.Sinks.DeadLetter
                {
                    Stage = "translate",
                    Error = "rule OrderPlaced: no field 'ord_total'",
                    Position = SourcePosition.ForKafka(record.Topic!, record.Partition!.Value, record.Offset!.Value),
                    Payload = record.Value!.Value,
                    Key = record.Key,
                    FailedAt = DateTimeOffset.UnixEpoch,
                    Attempts = 1,
                }, ct);
            }

            var translator = Translators.Create(Sample("rules"), "legacy-orders");
            await using (var without = File.OpenRead(letters))
            {
                using var output = new MemoryStream();
                using var errors = new StringWriter();
                Assert.Equal(1, await TranslateCommand.RunAsync(without, output, errors, DebeziumDecoderOptions.Default, translator, ct));
                Assert.Equal(0, output.Length);
                Assert.Contains("give translate --config with the pipeline's configuration", errors.ToString(), StringComparison.Ordinal);
            }

            await using var services = new ServiceCollection().AddLogging().AddCdcPipeline().BuildServiceProvider();
            var pipeline = PipelineConfiguration.Load(config);
            await using (var with = File.OpenRead(letters))
            {
                using var output = new MemoryStream();
                using var errors = new StringWriter();
                var exit = await TranslateCommand.RunAsync(with, output, errors, DebeziumDecoderOptions.Default, translator, ct, () => DeadLetterFile.KafkaDecoder(pipeline, services, translator));
                Assert.True(exit == 0, errors.ToString());

                // The same event, with the same id: the change is the one run decoded.
                Assert.Equal(expected, Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries));
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
