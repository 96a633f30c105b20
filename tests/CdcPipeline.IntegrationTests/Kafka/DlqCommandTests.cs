using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using CdcPipeline.Commands;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Kafka.DeadLetters;
using CdcPipeline.Kafka.Source;
using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Tests.Support;
using Confluent.Kafka;

namespace CdcPipeline.IntegrationTests.Kafka;

public sealed class DlqCommandTests(KafkaFixture kafka)
{
    [Fact]
    public async Task List_prints_each_dead_letter_and_redrive_sends_each_one_back_once()
    {
        var dlq = kafka.Unique("dlq");
        var original = kafka.Unique("legacy.public.tb_ord_mst");
        kafka.EnsureTopics([original]);
        await using (var queue = new KafkaDeadLetterQueue(new ProducerConfig { BootstrapServers = kafka.BootstrapServers }, dlq))
        {
            await queue.WriteAsync(new DeadLetter { Stage = "decode", Error = "malformed JSON in the value", ErrorType = "X", Position = SourcePosition.ForKafka(original, 2, 41), Payload = "not json"u8.ToArray(), Key = "k1"u8.ToArray(), FailedAt = DateTimeOffset.UnixEpoch, Attempts = 1 }, TestContext.Current.CancellationToken);
            await queue.WriteAsync(new DeadLetter { Stage = "domain", Error = "too large", Position = SourcePosition.ForKafka(original, 1, 7), Payload = "{\"id\":\"e1\"}"u8.ToArray(), EventId = "e1", FailedAt = DateTimeOffset.UnixEpoch, Attempts = 3 }, TestContext.Current.CancellationToken);
        }

        using var listed = new MemoryStream();
        Assert.Equal(0, await DlqCommand.ListAsync(Cluster(kafka.BootstrapServers), dlq, int.MaxValue, listed, TextWriter.Null, TestContext.Current.CancellationToken));
        var lines = Encoding.UTF8.GetString(listed.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2, lines.Count);
        var decode = lines.Single(l => l.GetProperty("headers").GetProperty("cdc.stage").GetString() == "decode");
        Assert.Equal("41", decode.GetProperty("headers").GetProperty("cdc.original.offset").GetString());
        Assert.Equal("bm90IGpzb24=", decode.GetProperty("payloadBase64").GetString());
        var sink = lines.Single(l => l.GetProperty("headers").GetProperty("cdc.stage").GetString() == "domain");
        Assert.Equal("e1", sink.GetProperty("payload").GetProperty("id").GetString());

        using var firstOut = new StringWriter();
        var options = new DlqCommand.RedriveOptions(To: null, WhereError: "malformed", FromOffset: 0, ToOffset: long.MaxValue, Group: null, DryRun: false);
        using var firstErrors = new StringWriter();
        Assert.True(0 == await DlqCommand.RedriveAsync(Cluster(kafka.BootstrapServers), dlq, options, firstOut, firstErrors, TestContext.Current.CancellationToken), firstErrors.ToString());
        Assert.Contains("1 redriven, 1 skipped", firstOut.ToString(), StringComparison.Ordinal);

        using var secondOut = new StringWriter();
        using var secondErrors = new StringWriter();
        Assert.True(0 == await DlqCommand.RedriveAsync(Cluster(kafka.BootstrapServers), dlq, options, secondOut, secondErrors, TestContext.Current.CancellationToken), secondErrors.ToString());
        Assert.Contains("0 redriven, 1 skipped", secondOut.ToString(), StringComparison.Ordinal);

        var redriven = Assert.Single(kafka.ReadAll(original, 1));
        Assert.Equal("not json", Encoding.UTF8.GetString(redriven.Message.Value!));
        Assert.Equal("k1", Encoding.UTF8.GetString(redriven.Message.Key!));
        Assert.StartsWith(dlq + "/", Encoding.UTF8.GetString(redriven.Message.Headers.GetLastBytes(DeadLetterHeaders.RedrivenFrom)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_binary_key_or_header_is_listed_as_base64_and_text_as_text()
    {
        // An Avro key (magic byte, schema id, binary) is not UTF-8; decoding it as text would lose bytes.
        var dlq = kafka.Unique("dlq");
        byte[] avroKey = [0, 0, 0, 0, 7, 0xC3, 0x28];
        byte[] binaryHeader = [0xFF, 0xFE, 1];
        await kafka.Producer.ProduceAsync(dlq, new Message<byte[]?, byte[]?>
        {
            Key = avroKey,
            Value = [0, 0, 0, 0, 9, 2],
            Headers = new Headers { { "cdc.stage", "decode"u8.ToArray() }, { "trace", binaryHeader } },
        }, TestContext.Current.CancellationToken);
        await kafka.Producer.ProduceAsync(dlq, new Message<byte[]?, byte[]?> { Key = "order-7"u8.ToArray(), Value = "{}"u8.ToArray() }, TestContext.Current.CancellationToken);

        using var listed = new MemoryStream();
        Assert.Equal(0, await DlqCommand.ListAsync(Cluster(kafka.BootstrapServers), dlq, int.MaxValue, listed, TextWriter.Null, TestContext.Current.CancellationToken));
        var lines = Encoding.UTF8.GetString(listed.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2, lines.Count);
        var binary = lines.Single(l => l.TryGetProperty("keyBase64", out _));
        Assert.Equal(avroKey, binary.GetProperty("keyBase64").GetBytesFromBase64());
        Assert.False(binary.TryGetProperty("key", out _));
        Assert.Equal("decode", binary.GetProperty("headers").GetProperty("cdc.stage").GetString());
        Assert.False(binary.GetProperty("headers").TryGetProperty("trace", out _));
        Assert.Equal(binaryHeader, binary.GetProperty("headersBase64").GetProperty("trace").GetBytesFromBase64());
        Assert.Equal([0, 0, 0, 0, 9, 2], binary.GetProperty("payloadBase64").GetBytesFromBase64());
        var text = lines.Single(l => l.TryGetProperty("key", out _));
        Assert.Equal("order-7", text.GetProperty("key").GetString());
        Assert.False(text.TryGetProperty("headersBase64", out _));
    }

    [Fact]
    public async Task A_header_name_the_record_carries_twice_is_listed_with_both_values_in_order()
    {
        // Kafka keeps every header, a name may repeat (tracing tools append their own): a JSON object with the name
        // twice would leave a reader only one of the values.
        var dlq = kafka.Unique("dlq");
        await kafka.Producer.ProduceAsync(dlq, new Message<byte[]?, byte[]?>
        {
            Key = "order-7"u8.ToArray(),
            Value = "{}"u8.ToArray(),
            Headers = new Headers { { "hop", "connect"u8.ToArray() }, { "cdc.stage", "decode"u8.ToArray() }, { "hop", "mirror"u8.ToArray() }, { "sig", [0xFF] }, { "sig", [0xFE] } },
        }, TestContext.Current.CancellationToken);

        using var listed = new MemoryStream();
        Assert.Equal(0, await DlqCommand.ListAsync(Cluster(kafka.BootstrapServers), dlq, int.MaxValue, listed, TextWriter.Null, TestContext.Current.CancellationToken));
        var letter = JsonDocument.Parse(Encoding.UTF8.GetString(listed.ToArray()).Trim()).RootElement;
        var headers = letter.GetProperty("headers");
        Assert.Equal(["connect", "mirror"], headers.GetProperty("hop").EnumerateArray().Select(v => v.GetString()));
        Assert.Equal("decode", headers.GetProperty("cdc.stage").GetString());
        Assert.Equal(2, headers.EnumerateObject().Count());
        var binary = letter.GetProperty("headersBase64").GetProperty("sig").EnumerateArray().Select(v => v.GetBytesFromBase64()).ToList();
        Assert.Equal([[0xFF], [0xFE]], binary);
    }

    [Fact]
    public async Task List_of_an_empty_topic_says_it_found_no_letter_as_the_file_form_does()
    {
        // It printed nothing at all (exit 0), where the file form says "0 letter(s) in …": no way to tell it read the topic.
        var dlq = kafka.Unique("empty-dlq");
        kafka.EnsureTopics([dlq]);
        using var listed = new MemoryStream();
        using var errors = new StringWriter();

        Assert.Equal(0, await DlqCommand.ListAsync(Cluster(kafka.BootstrapServers), dlq, int.MaxValue, listed, errors, TestContext.Current.CancellationToken));

        Assert.Equal(0, listed.Length);
        Assert.Equal($"0 letter(s) in topic '{dlq}'{Environment.NewLine}", errors.ToString());

        // and the count of what it printed, --max included
        await using (var queue = new KafkaDeadLetterQueue(new ProducerConfig { BootstrapServers = kafka.BootstrapServers }, dlq))
        {
            for (var i = 0; i < 3; i++)
            {
                await queue.WriteAsync(new DeadLetter { Stage = "decode", Error = "bad", Position = SourcePosition.ForKafka("t", 0, i), Payload = "x"u8.ToArray(), FailedAt = DateTimeOffset.UnixEpoch, Attempts = 1 }, TestContext.Current.CancellationToken);
            }
        }

        using var two = new StringWriter();
        Assert.Equal(0, await DlqCommand.ListAsync(Cluster(kafka.BootstrapServers), dlq, 2, Stream.Null, two, TestContext.Current.CancellationToken));
        Assert.Equal($"2 letter(s) in topic '{dlq}'{Environment.NewLine}", two.ToString());
    }

    [Fact]
    public async Task A_dead_letter_topic_that_does_not_exist_is_an_error_and_is_not_created()
    {
        var missing = kafka.Unique("no-such-dlq");
        using var listed = new MemoryStream();
        using var errors = new StringWriter();
        Assert.Equal(1, await DlqCommand.ListAsync(Cluster(kafka.BootstrapServers), missing, int.MaxValue, listed, errors, TestContext.Current.CancellationToken));
        Assert.Contains($"dlq list: topic '{missing}' does not exist on {kafka.BootstrapServers}", errors.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, listed.Length);

        using var redriveErrors = new StringWriter();
        var options = new DlqCommand.RedriveOptions(To: "elsewhere", WhereError: null, FromOffset: 0, ToOffset: long.MaxValue, Group: null, DryRun: false);
        Assert.Equal(1, await DlqCommand.RedriveAsync(Cluster(kafka.BootstrapServers), missing, options, TextWriter.Null, redriveErrors, TestContext.Current.CancellationToken));
        Assert.Contains($"dlq redrive: topic '{missing}' does not exist", redriveErrors.ToString(), StringComparison.Ordinal);

        // Asking a broker for one topic by name creates it where auto.create.topics.enable is on (the mock always does).
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = kafka.BootstrapServers }).Build();
        Assert.DoesNotContain(admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics, t => t.Topic == missing);
    }

    [Fact]
    public async Task An_unreachable_cluster_is_an_error_that_names_it_not_an_empty_listing()
    {
        var servers = $"127.0.0.1:{FreePorts.Next()}";
        using var listed = new MemoryStream();
        using var errors = new StringWriter();
        var code = await DlqCommand.ListAsync(Cluster(servers), "dead-letters", int.MaxValue, listed, errors, TestContext.Current.CancellationToken, TimeSpan.FromSeconds(2));
        Assert.Equal(1, code);
        Assert.Equal(0, listed.Length);
        Assert.StartsWith($"dlq list: could not reach Kafka at {servers} (", errors.ToString(), StringComparison.Ordinal);
        Assert.Contains("Check --bootstrap-servers", errors.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_redrive_whose_group_has_an_active_member_is_refused_before_it_sends_anything()
    {
        // Another consumer is a member of the redrive's group (the pipeline, given as --group by mistake): the redrive
        // joins the group, is not given every partition, and stops before it sends a letter it could not record.
        var dlq = kafka.Unique("dlq");
        var group = kafka.Unique("redrive");
        var target = kafka.Unique("target");
        kafka.EnsureTopics([target]);
        for (var i = 0; i < 3; i++)
        {
            await kafka.ProduceAsync(dlq, "k", "{}", partition: 0);
        }

        // The pipeline's session timeout in the tests (the mock cluster waits almost a session for a member to rejoin).
        using var member = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = group, EnableAutoCommit = false, AutoOffsetReset = AutoOffsetReset.Latest, SessionTimeoutMs = 6000 })
            .SetLogHandler((_, _) => { })
            .Build();
        member.Subscribe(dlq);
        using var stop = new CancellationTokenSource();
        var polling = Task.Run(
            () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    member.Consume(TimeSpan.FromMilliseconds(100));
                }
            },
            TestContext.Current.CancellationToken);
        await WaitUntilAsync(() => member.Assignment.Count > 0);

        using var output = new StringWriter();
        using var errors = new StringWriter();
        var options = new DlqCommand.RedriveOptions(To: target, WhereError: null, FromOffset: 0, ToOffset: long.MaxValue, Group: group, DryRun: false);
        var code = await DlqCommand.RedriveAsync(Cluster(kafka.BootstrapServers), dlq, options, output, errors, TestContext.Current.CancellationToken);
        await stop.CancelAsync();
        await polling;

        Assert.True(code == 1, "exit " + code + ": " + output + errors);
        Assert.StartsWith($"dlq redrive: consumer group '{group}' is in use: another dlq redrive (or another consumer of that group) is reading '{dlq}'", errors.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("redriven", output.ToString(), StringComparison.Ordinal);
        Assert.Empty(kafka.ReadAll(target, 1, timeout: TimeSpan.FromSeconds(3)));
    }

    [Fact]
    public async Task Two_redrives_started_at_once_with_the_same_group_send_each_letter_once_and_the_second_is_refused()
    {
        // Two terminals, or a script's retry: both runs read the same progress group. One sends every letter, the other
        // stops before it sends anything and says why.
        var (dlq, group, target) = await LettersForTargetAsync(12);
        var options = new DlqCommand.RedriveOptions(To: target, WhereError: null, FromOffset: 0, ToOffset: long.MaxValue, Group: group, DryRun: false);

        var runs = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Task.Run(() => RunRedriveAsync(dlq, options, TextWriter.Null), TestContext.Current.CancellationToken)));

        Assert.True(runs.Count(r => r.Code == 0) == 1, string.Join("\n---\n", runs.Select(r => $"exit {r.Code}: {r.Output}{r.Errors}")));
        var refused = runs.Single(r => r.Code != 0);
        Assert.Equal(1, refused.Code);
        AssertRefused(refused, group, dlq);
        Assert.Contains("12 redriven, 0 skipped", runs.Single(r => r.Code == 0).Output, StringComparison.Ordinal);
        var sent = kafka.ReadAll(target, 13, settle: TimeSpan.FromSeconds(2));
        Assert.Equal(Enumerable.Range(0, 12).Select(i => "v" + i).Order(), sent.Select(r => Encoding.UTF8.GetString(r.Message.Value!)).Order());
    }

    [Fact]
    public async Task A_redrive_started_while_another_with_the_same_group_is_sending_is_refused_before_it_sends()
    {
        var (dlq, group, target) = await LettersForTargetAsync(24);
        var options = new DlqCommand.RedriveOptions(To: target, WhereError: null, FromOffset: 0, ToOffset: long.MaxValue, Group: group, DryRun: false);

        // The first run takes its time over each letter (an operator's slow terminal, large letters), so the second
        // starts while it is in the middle of the topic.
        var firstSent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var slow = new SlowWriter(TimeSpan.FromMilliseconds(300), line =>
        {
            if (line.Contains(" -> ", StringComparison.Ordinal))
            {
                firstSent.TrySetResult();
            }
        });
        var first = Task.Run(() => RunRedriveAsync(dlq, options, slow), TestContext.Current.CancellationToken);
        await firstSent.Task.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);

        var second = await RunRedriveAsync(dlq, options, TextWriter.Null);
        var firstRun = await first;

        Assert.True(second.Code == 1, $"exit {second.Code}: {second.Output}{second.Errors}\nfirst: {firstRun.Output}{firstRun.Errors}");
        AssertRefused(second, group, dlq);
        Assert.True(firstRun.Code == 0, $"exit {firstRun.Code}: {firstRun.Output}{firstRun.Errors}");
        Assert.Contains("24 redriven, 0 skipped", firstRun.Output, StringComparison.Ordinal);
        var sent = kafka.ReadAll(target, 25, settle: TimeSpan.FromSeconds(2));
        Assert.Equal(Enumerable.Range(0, 24).Select(i => "v" + i).Order(), sent.Select(r => Encoding.UTF8.GetString(r.Message.Value!)).Order());

        // Done, the group is free again: the next run continues where the first stopped.
        Assert.Contains("0 redriven, 0 skipped", (await RunRedriveAsync(dlq, options, TextWriter.Null)).Output, StringComparison.Ordinal);
    }

    private static void AssertRefused((int Code, string Output, string Errors) run, string group, string dlq)
    {
        Assert.StartsWith($"dlq redrive: consumer group '{group}' is in use: another dlq redrive (or another consumer of that group) is reading '{dlq}'", run.Errors, StringComparison.Ordinal);
        Assert.Contains("Nothing was sent", run.Errors, StringComparison.Ordinal);
        Assert.Contains("--group", run.Errors, StringComparison.Ordinal);
        Assert.DoesNotContain(" -> ", run.Output, StringComparison.Ordinal);
    }

    /// <summary><paramref name="count"/> letters spread over the partitions of a new dead-letter topic, a group and a target topic for them.</summary>
    private async Task<(string Dlq, string Group, string Target)> LettersForTargetAsync(int count)
    {
        var dlq = kafka.Unique("dlq");
        var target = kafka.Unique("target");
        kafka.EnsureTopics([dlq, target]);
        for (var i = 0; i < count; i++)
        {
            await kafka.ProduceAsync(dlq, "k" + i, "v" + i, partition: i % 4, headers: new Headers { { DeadLetterHeaders.Stage, "domain"u8.ToArray() } });
        }

        return (dlq, kafka.Unique("redrive"), target);
    }

    private async Task<(int Code, string Output, string Errors)> RunRedriveAsync(string dlq, DlqCommand.RedriveOptions options, TextWriter echo)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        using var both = new TeeWriter(output, echo);
        var code = await DlqCommand.RedriveAsync(Cluster(kafka.BootstrapServers), dlq, options, both, errors, TestContext.Current.CancellationToken, TimeSpan.FromSeconds(20));
        return (code, output.ToString(), errors.ToString());
    }

    /// <summary>Passes each line on to a second writer too.</summary>
    private sealed class TeeWriter(TextWriter first, TextWriter second) : TextWriter
    {
        public override Encoding Encoding => Encoding.UTF8;

        public override void Write(char value)
        {
            first.Write(value);
            second.Write(value);
        }

        public override async Task WriteLineAsync(string? value)
        {
            await first.WriteLineAsync(value);
            await second.WriteLineAsync(value);
        }
    }

    /// <summary>Takes <paramref name="delay"/> over each line, after telling <paramref name="seen"/>.</summary>
    private sealed class SlowWriter(TimeSpan delay, Action<string> seen) : TextWriter
    {
        public override Encoding Encoding => Encoding.UTF8;

        public override void Write(char value)
        {
        }

        public override async Task WriteLineAsync(string? value)
        {
            seen(value ?? "");
            await Task.Delay(delay);
        }
    }

    [Fact]
    public async Task A_plain_redrive_sends_back_only_letters_that_hold_the_source_record_and_names_those_that_need_to()
    {
        // A sink's letter holds a CloudEvent: on the Debezium topic it would fail to decode, be dead-lettered
        // again, and break every other consumer of that topic.
        var dlq = kafka.Unique("dlq");
        var original = kafka.Unique("legacy.public.tb_ord_mst");
        var domain = kafka.Unique("domain.OrderPlaced");
        kafka.EnsureTopics([original, domain]);
        var cloudEvent = "{\"specversion\":\"1.0\",\"id\":\"e1\",\"type\":\"OrderPlaced\"}";
        var ct = TestContext.Current.CancellationToken;
        await using (var queue = new KafkaDeadLetterQueue(new ProducerConfig { BootstrapServers = kafka.BootstrapServers }, dlq))
        {
            await queue.WriteAsync(new DeadLetter { Stage = "decode", Error = "malformed JSON", Position = SourcePosition.ForKafka(original, 2, 41), Payload = "not json"u8.ToArray(), Key = "k1"u8.ToArray(), FailedAt = DateTimeOffset.UnixEpoch, Attempts = 1 }, ct);
            await queue.WriteAsync(new DeadLetter { Stage = "domain", Error = "Broker: Message size too large", Position = SourcePosition.ForKafka(original, 1, 7), Payload = Encoding.UTF8.GetBytes(cloudEvent), EventId = "e1", EventType = "OrderPlaced", FailedAt = DateTimeOffset.UnixEpoch, Attempts = 3 }, ct);
            // A command for a sink that is not configured: stage translate, but its payload is the event.
            await queue.WriteAsync(new DeadLetter { Stage = "translate", Error = "command targets sink 'billing', which is not configured", Position = SourcePosition.ForKafka(original, 1, 8), Payload = "{\"id\":\"e2\"}"u8.ToArray(), EventId = "e2", EventType = "ChargeOrder", FailedAt = DateTimeOffset.UnixEpoch, Attempts = 1 }, ct);
        }

        // A sink's letter written before the queue stopped naming a change topic on such letters.
        await kafka.ProduceAsync(dlq, "e3", cloudEvent, headers: new Headers
        {
            { DeadLetterHeaders.Stage, "domain"u8.ToArray() },
            { DeadLetterHeaders.Error, "Broker: Message size too large"u8.ToArray() },
            { DeadLetterHeaders.EventId, "e3"u8.ToArray() },
            { DeadLetterHeaders.OriginalTopic, Encoding.UTF8.GetBytes(original) },
            { DeadLetterHeaders.OriginalPartition, "1"u8.ToArray() },
        });

        using var listed = new MemoryStream();
        Assert.Equal(0, await DlqCommand.ListAsync(Cluster(kafka.BootstrapServers), dlq, int.MaxValue, listed, TextWriter.Null, ct));
        var sinkLetter = Encoding.UTF8.GetString(listed.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("headers"))
            .Single(h => h.TryGetProperty(DeadLetterHeaders.EventId, out var id) && id.GetString() == "e1");
        Assert.Equal("domain", sinkLetter.GetProperty(DeadLetterHeaders.Stage).GetString());
        Assert.Equal($"{original}/1@7:0", sinkLetter.GetProperty(DeadLetterHeaders.Position).GetString());
        Assert.False(sinkLetter.TryGetProperty(DeadLetterHeaders.OriginalTopic, out _));

        var plain = new DlqCommand.RedriveOptions(To: null, WhereError: null, FromOffset: 0, ToOffset: long.MaxValue, Group: null, DryRun: false);
        var first = await RedriveAsync(dlq, plain);
        Assert.Contains($"progress: consumer group '{dlq}.redrive' (", first, StringComparison.Ordinal);
        Assert.Contains("1 redriven, 3 skipped: 0 not selected by the filter, 3 needing --to", first, StringComparison.Ordinal);
        var skips = first.Split('\n').Where(l => l.Contains(": skipped, ", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, skips.Count);
        Assert.All(skips, l => Assert.Contains($"Group '{dlq}.redrive' moves past it", l, StringComparison.Ordinal));
        Assert.Equal(2, skips.Count(l => l.Contains("stage 'domain' holds a domain event", StringComparison.Ordinal) && l.Contains("redrive it with --stage domain --to TOPIC", StringComparison.Ordinal)));
        Assert.Single(skips, l => l.Contains("stage 'translate' holds a domain event (ChargeOrder)", StringComparison.Ordinal) && l.Contains("redrive it with --to TOPIC", StringComparison.Ordinal));

        var back = Assert.Single(kafka.ReadAll(original, 1));
        Assert.Equal("not json", Encoding.UTF8.GetString(back.Message.Value!));
        Assert.Equal("k1", Encoding.UTF8.GetString(back.Message.Key!));
        Assert.Equal(2, back.Partition.Value); // where it was read from, whatever partitioner the connector used

        // The default group moved past the letters that need --to (each run reports them once) ...
        Assert.Contains("0 redriven, 0 skipped", await RedriveAsync(dlq, plain), StringComparison.Ordinal);

        // ... and a redrive with --to has a group of its own, so it still finds them.
        var toDomain = plain with { To = domain, Stage = "domain" };
        var third = await RedriveAsync(dlq, toDomain);
        Assert.Contains("2 redriven, 2 skipped: 2 not selected by the filter, 0 needing --to", third, StringComparison.Ordinal);
        var events = kafka.ReadAll(domain, 2);
        Assert.Equal(2, events.Count);
        Assert.All(events, e => Assert.Equal(cloudEvent, Encoding.UTF8.GetString(e.Message.Value!)));
        Assert.Equal(["e1", "e3"], events.Select(e => Encoding.UTF8.GetString(e.Message.Key!)).Order());
        Assert.Single(kafka.ReadAll(original, 1));
    }

    [Fact]
    public async Task A_filtered_redrive_keeps_its_own_progress_so_a_plain_redrive_still_sends_the_letters_it_passed_over()
    {
        var dlq = kafka.Unique("dlq");
        var original = kafka.Unique("legacy.public.tb_ord_mst");
        kafka.EnsureTopics([original]);
        string[] errors = ["timeout", "malformed JSON", "timeout", "malformed JSON", "timeout"];
        for (var i = 0; i < errors.Length; i++)
        {
            await kafka.ProduceAsync(dlq, "k" + i, "v" + i, partition: 0, headers: new Headers
            {
                { DeadLetterHeaders.Stage, "decode"u8.ToArray() },
                { DeadLetterHeaders.Error, Encoding.UTF8.GetBytes(errors[i]) },
                { DeadLetterHeaders.OriginalTopic, Encoding.UTF8.GetBytes(original) },
                { DeadLetterHeaders.OriginalPartition, "0"u8.ToArray() },
            });
        }

        // Only letter 1 is redriven; in a shared group its commit would pass letter 0.
        var malformed = new DlqCommand.RedriveOptions(To: null, WhereError: "MALFORMED", FromOffset: 0, ToOffset: 2, Group: null, DryRun: false, Partition: 0);
        var filtered = await RedriveAsync(dlq, malformed);
        Assert.Contains("1 redriven, 4 skipped: 4 not selected by the filter, 0 needing --to", filtered, StringComparison.Ordinal);
        var progress = new Regex($"^progress: consumer group '({Regex.Escape(dlq)}\\.redrive\\.[0-9a-f]{{8}})' \\(its own for --where-error '(?i:malformed)' --partition 0 --to-offset 2, ");
        Assert.Matches(progress, filtered);
        var group = progress.Match(filtered).Groups[1].Value;

        // The same filter (the error text matched ignoring case) continues where it stopped, in the same group.
        var again = await RedriveAsync(dlq, malformed with { WhereError = "malformed" });
        Assert.Equal(group, progress.Match(again).Groups[1].Value);
        Assert.Contains("0 redriven, 3 skipped", again, StringComparison.Ordinal);

        var plain = new DlqCommand.RedriveOptions(To: null, WhereError: null, FromOffset: 0, ToOffset: long.MaxValue, Group: null, DryRun: false);
        var all = await RedriveAsync(dlq, plain);
        Assert.Contains("5 redriven, 0 skipped", all, StringComparison.Ordinal);
        var values = kafka.ReadAll(original, 6).Select(r => Encoding.UTF8.GetString(r.Message.Value!)).ToList();
        Assert.Equal(["v0", "v1", "v1", "v2", "v3", "v4"], values.Order());
    }

    [Fact]
    public async Task A_translate_failure_on_the_kafka_path_is_dead_lettered_with_the_records_key_and_redrives_to_its_partition()
    {
        var prefix = kafka.Unique("legacy").Replace("-", "_", StringComparison.Ordinal);
        var record = KafkaRecords.Sample(prefix).First(r => r.Topic!.EndsWith(".tb_ord_mst", StringComparison.Ordinal) && r.Key is not null && r.Value is not null);
        var topic = record.Topic!;
        var key = record.Key!.Value.ToArray();
        var value = record.Value!.Value.ToArray();
        await kafka.ProduceAsync(topic, key, value, partition: 3);
        var dlq = kafka.Unique("dlq");

        var letters = await RunBrokenPipelineAsync(topic, dlq, 1);

        var letter = Assert.Single(letters);
        Assert.Equal("translate", Encoding.UTF8.GetString(letter.Message.Headers.GetLastBytes(DeadLetterHeaders.Stage)));
        Assert.Equal(value, letter.Message.Value);
        Assert.Equal(key, letter.Message.Key);

        var plain = new DlqCommand.RedriveOptions(To: null, WhereError: null, FromOffset: 0, ToOffset: long.MaxValue, Group: null, DryRun: false);
        Assert.Contains("1 redriven, 0 skipped", await RedriveAsync(dlq, plain), StringComparison.Ordinal);
        var redriven = Assert.Single(kafka.ReadAll(topic, 2), r => r.Message.Headers.TryGetLastBytes(DeadLetterHeaders.RedrivenFrom, out _));
        Assert.Equal(key, redriven.Message.Key);
        Assert.Equal(value, redriven.Message.Value);
        Assert.Equal(3, redriven.Partition.Value);
    }

    [Fact]
    public async Task A_redrive_to_a_topic_that_does_not_exist_is_refused_and_does_not_create_it()
    {
        // A mistyped --to must not become a new topic holding every letter: a produce to an unknown topic
        // creates it wherever auto.create.topics.enable is on (Kafka's default, and always on the mock).
        var dlq = kafka.Unique("dlq");
        var original = kafka.Unique("legacy.public.tb_ord_mst");
        var typo = kafka.Unique("domian.OrderPlaced");
        kafka.EnsureTopics([original]);
        await kafka.ProduceAsync(dlq, "k", "v", partition: 0, headers: DecodeLetter(original, "0"));

        using var output = new StringWriter();
        using var errors = new StringWriter();
        var options = new DlqCommand.RedriveOptions(To: typo, WhereError: null, FromOffset: 0, ToOffset: long.MaxValue, Group: null, DryRun: false);
        var code = await DlqCommand.RedriveAsync(Cluster(kafka.BootstrapServers), dlq, options, output, errors, TestContext.Current.CancellationToken);

        Assert.True(code == 1, $"exit {code}: {output}{errors}");
        Assert.StartsWith($"dlq redrive: --to topic '{typo}' does not exist on {kafka.BootstrapServers}", errors.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(" -> ", output.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(typo, Topics());
    }

    [Fact]
    public async Task A_redrive_to_the_dead_letter_topic_itself_is_refused()
    {
        // A copy-pasted --to: each letter came back as one more letter, without the headers saying why it failed,
        // and one the redrive read again before reaching the end it would send again, endlessly.
        var dlq = kafka.Unique("dlq");
        var original = kafka.Unique("legacy.public.tb_ord_mst");
        kafka.EnsureTopics([original]);
        await kafka.ProduceAsync(dlq, "k", "v", partition: 0, headers: DecodeLetter(original, "0"));

        using var output = new StringWriter();
        using var errors = new StringWriter();
        // Only a safety net for the test run: a redrive that loops is stopped, and its exit 0 fails the test.
        using var loopGuard = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        loopGuard.CancelAfter(TimeSpan.FromSeconds(30));
        var options = new DlqCommand.RedriveOptions(To: dlq, WhereError: null, FromOffset: 0, ToOffset: long.MaxValue, Group: null, DryRun: false);
        var code = await DlqCommand.RedriveAsync(Cluster(kafka.BootstrapServers), dlq, options, output, errors, loopGuard.Token);

        Assert.True(code == 1, $"exit {code}: {output.ToString()[..Math.Min(500, output.ToString().Length)]}{errors}");
        Assert.StartsWith($"dlq redrive: --to '{dlq}' is the dead-letter topic being redriven", errors.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(" -> ", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_letter_whose_original_topic_or_partition_is_gone_is_skipped_and_named_never_sent_to_a_new_topic()
    {
        // The change topic was deleted (a table dropped, a connector renamed) or re-created with fewer
        // partitions: the letter cannot go back where it came from, and the operator has to choose with --to.
        var dlq = kafka.Unique("dlq");
        var original = kafka.Unique("legacy.public.tb_ord_mst");
        var deleted = kafka.Unique("legacy.public.tb_old");
        kafka.EnsureTopics([original]);
        await kafka.ProduceAsync(dlq, "k0", "gone topic", partition: 0, headers: DecodeLetter(deleted, "1"));
        await kafka.ProduceAsync(dlq, "k1", "gone partition", partition: 0, headers: DecodeLetter(original, "9"));
        await kafka.ProduceAsync(dlq, "k2", "bad partition", partition: 0, headers: DecodeLetter(original, "two"));
        await kafka.ProduceAsync(dlq, "k3", "fine", partition: 0, headers: DecodeLetter(original, "1"));

        var plain = new DlqCommand.RedriveOptions(To: null, WhereError: null, FromOffset: 0, ToOffset: long.MaxValue, Group: null, DryRun: false);
        var output = await RedriveAsync(dlq, plain);

        Assert.Contains("1 redriven, 3 skipped: 0 not selected by the filter, 3 needing --to", output, StringComparison.Ordinal);
        Assert.Contains($"{dlq}/0@0: skipped, its original topic '{deleted}' does not exist on {kafka.BootstrapServers}", output, StringComparison.Ordinal);
        Assert.Contains($"{dlq}/0@1: skipped, its original partition 9 does not exist ('{original}' has 4)", output, StringComparison.Ordinal);
        Assert.Contains($"{dlq}/0@2: skipped, its {DeadLetterHeaders.OriginalPartition} header 'two' is not a partition number", output, StringComparison.Ordinal);
        Assert.Contains($"{dlq}/0@3 -> {original}/1", output, StringComparison.Ordinal);
        Assert.DoesNotContain(deleted, Topics());
        var back = Assert.Single(kafka.ReadAll(original, 1));
        Assert.Equal("fine", Encoding.UTF8.GetString(back.Message.Value!));
        Assert.Equal(1, back.Partition.Value);
    }

    [Fact]
    public async Task An_offset_range_on_a_dead_letter_topic_of_several_partitions_needs_the_partition()
    {
        // Offsets count per partition: `dlq list` shows dlq/1@0, and --from-offset 0 --to-offset 0 alone would
        // redrive the letter at offset 0 of every partition.
        var dlq = kafka.Unique("dlq");
        var original = kafka.Unique("legacy.public.tb_ord_mst");
        kafka.EnsureTopics([original]);
        await kafka.ProduceAsync(dlq, "k0", "first of partition 0", partition: 0, headers: DecodeLetter(original, "0"));
        await kafka.ProduceAsync(dlq, "k1", "first of partition 1", partition: 1, headers: DecodeLetter(original, "1"));

        using var output = new StringWriter();
        using var errors = new StringWriter();
        var oneLetter = new DlqCommand.RedriveOptions(To: null, WhereError: null, FromOffset: 0, ToOffset: 0, Group: null, DryRun: false);
        var code = await DlqCommand.RedriveAsync(Cluster(kafka.BootstrapServers), dlq, oneLetter, output, errors, TestContext.Current.CancellationToken);

        Assert.True(code == 1, $"exit {code}: {output}{errors}");
        Assert.StartsWith($"dlq redrive: --from-offset and --to-offset count within one partition, and '{dlq}' has 4: add --partition P", errors.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(" -> ", output.ToString(), StringComparison.Ordinal);

        var redriven = await RedriveAsync(dlq, oneLetter with { Partition = 1 });
        Assert.Contains("1 redriven, 1 skipped: 1 not selected by the filter", redriven, StringComparison.Ordinal);
        Assert.Contains("--partition 1 --to-offset 0", redriven, StringComparison.Ordinal);
        var back = Assert.Single(kafka.ReadAll(original, 1));
        Assert.Equal("first of partition 1", Encoding.UTF8.GetString(back.Message.Value!));

        using var noSuchErrors = new StringWriter();
        Assert.Equal(1, await DlqCommand.RedriveAsync(Cluster(kafka.BootstrapServers), dlq, oneLetter with { Partition = 7 }, TextWriter.Null, noSuchErrors, TestContext.Current.CancellationToken));
        Assert.StartsWith($"dlq redrive: '{dlq}' has no partition 7 (it has 4)", noSuchErrors.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_record_larger_than_librdkafkas_default_message_size_is_dead_lettered_and_redriven()
    {
        // Kafka Connect's producer sends records up to 1 MiB by default (max.request.size, more where the change
        // topics allow it), librdkafka stops at 1,000,000 bytes (message.max.bytes) before the brokers are asked:
        // such a record could neither be dead-lettered (the pipeline stopped at it, again after every restart)
        // nor redriven. The brokers, whose topic limit accepted the record once, decide.
        var ct = TestContext.Current.CancellationToken;
        var dlq = kafka.Unique("dlq");
        var original = kafka.Unique("legacy.public.tb_doc");
        kafka.EnsureTopics([original]);
        var payload = new byte[1_040_000];
        Random.Shared.NextBytes(payload);
        await using (var queue = new KafkaDeadLetterQueue(new ProducerConfig { BootstrapServers = kafka.BootstrapServers }, dlq))
        {
            await queue.WriteAsync(new DeadLetter { Stage = "decode", Error = "unknown magic byte", Position = SourcePosition.ForKafka(original, 2, 5), Payload = payload, Key = "doc-1"u8.ToArray(), FailedAt = DateTimeOffset.UnixEpoch, Attempts = 1 }, ct);
        }

        var plain = new DlqCommand.RedriveOptions(To: null, WhereError: null, FromOffset: 0, ToOffset: long.MaxValue, Group: null, DryRun: false);
        Assert.Contains("1 redriven, 0 skipped", await RedriveAsync(dlq, plain), StringComparison.Ordinal);
        var back = Assert.Single(kafka.ReadAll(original, 1));
        Assert.Equal(payload, back.Message.Value);
        Assert.Equal(2, back.Partition.Value);
    }

    [Fact]
    public async Task A_redriven_record_keeps_its_own_headers_without_the_error_headers()
    {
        // A letter carries the record's headers beside the reasons it failed (ours, or Kafka Connect's
        // __connect.errors.*): the record goes on with its headers (an outbox event's id, a trace), not the reasons.
        var dlq = kafka.Unique("dlq");
        var original = kafka.Unique("legacy.public.tb_ord_mst");
        kafka.EnsureTopics([original]);
        var headers = DecodeLetter(original, "0");
        headers.Add("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"u8.ToArray());
        headers.Add("__connect.errors.topic", Encoding.UTF8.GetBytes(original));
        headers.Add("id", [0xFF, 0x01]);
        await kafka.ProduceAsync(dlq, "k", "v", partition: 0, headers: headers);

        var plain = new DlqCommand.RedriveOptions(To: null, WhereError: null, FromOffset: 0, ToOffset: long.MaxValue, Group: null, DryRun: false);
        Assert.Contains("1 redriven, 0 skipped", await RedriveAsync(dlq, plain), StringComparison.Ordinal);

        var back = Assert.Single(kafka.ReadAll(original, 1));
        Assert.Equal(["traceparent", "id", DeadLetterHeaders.RedrivenFrom], back.Message.Headers.Select(h => h.Key));
        Assert.Equal([0xFF, 0x01], back.Message.Headers.GetLastBytes("id"));
        Assert.Equal($"{dlq}/0@0", Encoding.UTF8.GetString(back.Message.Headers.GetLastBytes(DeadLetterHeaders.RedrivenFrom)));
    }

    [Fact]
    public async Task A_letter_whose_headers_have_no_value_is_redriven_or_skipped_never_a_crash()
    {
        // Another tool may write a header without a value (Kafka allows it): such a cdc.* header says nothing.
        var dlq = kafka.Unique("dlq");
        var original = kafka.Unique("legacy.public.tb_ord_mst");
        kafka.EnsureTopics([original]);
        await kafka.ProduceAsync(dlq, "k0", "v0", partition: 0, headers: new Headers { { DeadLetterHeaders.Stage, null }, { DeadLetterHeaders.Error, null } });
        var letter = DecodeLetter(original, "0");
        letter.Add(DeadLetterHeaders.Error, null);
        await kafka.ProduceAsync(dlq, "k1", "v1", partition: 0, headers: letter);

        var plain = new DlqCommand.RedriveOptions(To: null, WhereError: null, FromOffset: 0, ToOffset: long.MaxValue, Group: null, DryRun: false);
        var output = await RedriveAsync(dlq, plain);
        Assert.Contains($"{dlq}/0@0: skipped, it has no {DeadLetterHeaders.Stage} header", output, StringComparison.Ordinal);
        Assert.Contains("1 redriven, 1 skipped", output, StringComparison.Ordinal);
        Assert.Contains("0 redriven, 2 skipped: 2 not selected by the filter", await RedriveAsync(dlq, plain with { WhereError = "malformed" }), StringComparison.Ordinal);
    }

    private static Headers DecodeLetter(string originalTopic, string originalPartition) => new()
    {
        { DeadLetterHeaders.Stage, "decode"u8.ToArray() },
        { DeadLetterHeaders.Error, "malformed JSON"u8.ToArray() },
        { DeadLetterHeaders.OriginalTopic, Encoding.UTF8.GetBytes(originalTopic) },
        { DeadLetterHeaders.OriginalPartition, Encoding.UTF8.GetBytes(originalPartition) },
    };

    /// <summary>The cluster's topics, from its full metadata (asking for one by name would create it).</summary>
    private List<string> Topics()
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = kafka.BootstrapServers }).Build();
        return admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics.Select(t => t.Topic).ToList();
    }

    [Fact]
    public async Task A_dead_letter_on_the_kafka_path_keeps_the_records_headers_and_a_redrive_sends_them_back()
    {
        // The headers are part of the record (an outbox event router's id, a trace context): a letter that drops
        // them can never be redriven as the record it was.
        var ct = TestContext.Current.CancellationToken;
        var prefix = kafka.Unique("legacy").Replace("-", "_", StringComparison.Ordinal);
        var sample = KafkaRecords.Sample(prefix).First(r => r.Topic!.EndsWith(".tb_ord_mst", StringComparison.Ordinal) && r.Key is not null && r.Value is not null);
        var topic = sample.Topic!;
        await kafka.Producer.ProduceAsync(new TopicPartition(topic, 1), new Message<byte[]?, byte[]?>
        {
            Key = "k-undecodable"u8.ToArray(),
            Value = "not json"u8.ToArray(),
            Headers = new Headers { { "traceparent", "00-aa-01"u8.ToArray() } },
        }, ct);
        await kafka.Producer.ProduceAsync(new TopicPartition(topic, 1), new Message<byte[]?, byte[]?>
        {
            Key = sample.Key!.Value.ToArray(),
            Value = sample.Value!.Value.ToArray(),
            Headers = new Headers { { "id", [0xFF, 0x02] } },
        }, ct);
        var dlq = kafka.Unique("dlq");

        var letters = await RunBrokenPipelineAsync(topic, dlq, 2);

        Assert.Equal(2, letters.Count);
        string Stage(ConsumeResult<byte[]?, byte[]?> r) => Encoding.UTF8.GetString(r.Message.Headers.GetLastBytes(DeadLetterHeaders.Stage));
        Assert.Equal("00-aa-01"u8.ToArray(), letters.Single(l => Stage(l) == "decode").Message.Headers.GetLastBytes("traceparent"));
        Assert.Equal([0xFF, 0x02], letters.Single(l => Stage(l) == "translate").Message.Headers.GetLastBytes("id"));

        var plain = new DlqCommand.RedriveOptions(To: null, WhereError: null, FromOffset: 0, ToOffset: long.MaxValue, Group: null, DryRun: false);
        Assert.Contains("2 redriven, 0 skipped", await RedriveAsync(dlq, plain), StringComparison.Ordinal);
        var redriven = kafka.ReadAll(topic, 4).Where(r => r.Message.Headers.TryGetLastBytes(DeadLetterHeaders.RedrivenFrom, out _)).ToList();
        Assert.Equal(2, redriven.Count);
        Assert.Equal(["traceparent", DeadLetterHeaders.RedrivenFrom], redriven.Single(r => r.Message.Key!.SequenceEqual("k-undecodable"u8.ToArray())).Message.Headers.Select(h => h.Key));
        Assert.Equal(["id", DeadLetterHeaders.RedrivenFrom], redriven.Single(r => r.Message.Key!.SequenceEqual(sample.Key!.Value.ToArray())).Message.Headers.Select(h => h.Key));
    }

    [Fact]
    public async Task A_tombstone_that_cannot_be_decoded_is_dead_lettered_and_redriven_as_a_tombstone()
    {
        // A tombstone is a key with a null value: compaction deletes the key by it, and Kafka Connect reads it as a
        // delete. Empty bytes or any other value in its place on the change topic would be a record nobody can read.
        var ct = TestContext.Current.CancellationToken;
        var prefix = kafka.Unique("legacy").Replace("-", "_", StringComparison.Ordinal);
        var topic = KafkaRecords.Sample(prefix).First(r => r.Topic!.EndsWith(".tb_ord_mst", StringComparison.Ordinal)).Topic!;
        await kafka.Producer.ProduceAsync(new TopicPartition(topic, 2), new Message<byte[]?, byte[]?> { Key = "not json"u8.ToArray(), Value = null }, ct);
        var dlq = kafka.Unique("dlq");

        var letters = await RunBrokenPipelineAsync(topic, dlq, 1);

        var letter = Assert.Single(letters);
        Assert.Equal("decode", Encoding.UTF8.GetString(letter.Message.Headers.GetLastBytes(DeadLetterHeaders.Stage)));
        Assert.Null(letter.Message.Value);
        Assert.Equal("not json"u8.ToArray(), letter.Message.Key);
        using var listed = new MemoryStream();
        Assert.Equal(0, await DlqCommand.ListAsync(Cluster(kafka.BootstrapServers), dlq, int.MaxValue, listed, TextWriter.Null, ct));
        var shown = JsonDocument.Parse(Encoding.UTF8.GetString(listed.ToArray()).Trim()).RootElement;
        Assert.Equal(JsonValueKind.Null, shown.GetProperty("payload").ValueKind);
        Assert.False(shown.TryGetProperty("payloadBase64", out _));

        var plain = new DlqCommand.RedriveOptions(To: null, WhereError: null, FromOffset: 0, ToOffset: long.MaxValue, Group: null, DryRun: false);
        Assert.Contains("1 redriven, 0 skipped", await RedriveAsync(dlq, plain), StringComparison.Ordinal);
        var redriven = Assert.Single(kafka.ReadAll(topic, 2), r => r.Message.Headers.TryGetLastBytes(DeadLetterHeaders.RedrivenFrom, out _));
        Assert.Null(redriven.Message.Value);
        Assert.Equal("not json"u8.ToArray(), redriven.Message.Key);
        Assert.Equal(2, redriven.Partition.Value);
    }

    /// <summary>A rule with a bug: every change fails to translate.</summary>
    private sealed class BrokenRule : IChangeTranslator
    {
        public void Translate(ChangeEvent change, ICollection<DomainEvent> output) =>
            throw new InvalidOperationException("rule 'orders': no field 'ord_amt2'");
    }

    /// <summary>
    /// Runs the Kafka source over <paramref name="topic"/> with <see cref="BrokenRule"/> and the Kafka dead-letter queue on
    /// <paramref name="dlq"/> until <paramref name="count"/> letters are there; those letters.
    /// </summary>
    private async Task<List<ConsumeResult<byte[]?, byte[]?>>> RunBrokenPipelineAsync(string topic, string dlq, int count)
    {
        await using var queue = new KafkaDeadLetterQueue(new ProducerConfig { BootstrapServers = kafka.BootstrapServers }, dlq);
        var consumer = new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = kafka.Unique("g"), AutoOffsetReset = AutoOffsetReset.Earliest, SessionTimeoutMs = 6000 };
        await using var source = new KafkaChangeSource(consumer, [topic], new JsonRecordDecoder(), queue);
        var runner = new PipelineRunner(source, new BrokenRule(), [new SinkBinding(new RecordingSink("s"), SinkPolicy.Default)], queue);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var run = runner.RunAsync(cts.Token);
        var letters = kafka.ReadAll(dlq, count, timeout: TimeSpan.FromSeconds(60));
        await cts.CancelAsync();
        await run;
        return letters;
    }

    /// <summary>Runs <c>dlq redrive</c>, expecting exit 0; its standard output.</summary>
    private async Task<string> RedriveAsync(string dlq, DlqCommand.RedriveOptions options)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var code = await DlqCommand.RedriveAsync(Cluster(kafka.BootstrapServers), dlq, options, output, errors, TestContext.Current.CancellationToken);
        Assert.True(code == 0, $"exit {code}: {output}{errors}");
        return output.ToString();
    }

    private static ClientConfig Cluster(string servers) => new() { BootstrapServers = servers };

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for the condition");
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }
}
