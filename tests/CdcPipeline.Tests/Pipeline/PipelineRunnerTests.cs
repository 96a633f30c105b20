using System.Collections.Concurrent;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Core.Translation.Rules;
using CdcPipeline.Sinks.Failures;
using CdcPipeline.Tests.Support;

namespace CdcPipeline.Tests.Pipeline;

public class PipelineRunnerTests
{
    private static readonly SinkPolicy FastRetry = new() { MaxAttempts = 3, InitialDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(5) };

    private static PipelineRunner Runner(InMemoryChangeSource source, IDeadLetterQueue dlq, params SinkBinding[] sinks) =>
        new(source, new StatusTranslator(), sinks, dlq, new PipelineRunnerOptions { BufferCapacity = 16, MaxBatchSize = 7 });

    private static async Task RunToEnd(PipelineRunner runner) =>
        await runner.RunAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

    [Fact]
    public async Task Every_sink_gets_every_event_in_source_order_and_positions_are_acknowledged_in_order()
    {
        var source = new InMemoryChangeSource();
        for (var i = 1; i <= 100; i++)
        {
            source.Add(InMemoryChangeSource.Change(i, "K" + (i % 5), "S" + i));
        }

        source.Complete();
        var a = new RecordingSink("a");
        var b = new RecordingSink("b") { Gate = () => Task.Delay(1) };
        await RunToEnd(Runner(source, new RecordingDeadLetterQueue(), new(a, SinkPolicy.Default), new(b, SinkPolicy.Default)));

        foreach (var sink in new[] { a, b })
        {
            Assert.Equal(Enumerable.Range(1, 100).Select(i => (long)i), sink.Delivered.Select(e => e.Position.Major));
        }

        var acks = source.Acknowledged.Select(p => p.Major).ToArray();
        Assert.Equal(100, acks[^1]);
        Assert.Equal(acks.Order(), acks);
        Assert.True(acks.Length >= 100 / 7, "acknowledged once per batch");
    }

    [Fact]
    public async Task A_position_is_acknowledged_only_after_every_sink_has_the_batch()
    {
        var source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(1, "K1", "P"));
        var release = new TaskCompletionSource();
        var fast = new RecordingSink("fast");
        var slow = new RecordingSink("slow") { Gate = () => release.Task };
        var run = Runner(source, new RecordingDeadLetterQueue(), new(fast, SinkPolicy.Default), new(slow, SinkPolicy.Default))
            .RunAsync(TestContext.Current.CancellationToken);

        await WaitUntil(() => fast.Delivered.Count == 1);
        await Task.Delay(50, TestContext.Current.CancellationToken);
        Assert.Empty(source.Acknowledged);

        release.SetResult();
        source.Complete();
        await run.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.Equal([1L], source.Acknowledged.Select(p => p.Major));
    }

    [Fact]
    public async Task A_transient_failure_is_retried_and_nothing_is_lost()
    {
        var source = new InMemoryChangeSource();
        for (var i = 1; i <= 20; i++)
        {
            source.Add(InMemoryChangeSource.Change(i, "K", "S" + i));
        }

        source.Complete();
        var sink = new RecordingSink("flaky") { Fail = (_, call) => call % 2 == 1 ? new IOException("connection reset") : null };
        var dlq = new RecordingDeadLetterQueue();
        await RunToEnd(Runner(source, dlq, new SinkBinding(sink, FastRetry)));

        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), sink.Delivered.Select(e => e.Position.Major));
        Assert.Empty(dlq.Letters);
    }

    [Fact]
    public async Task A_sinks_own_timeout_is_retried_like_any_transient_failure()
    {
        // Clients report their own time-outs as OperationCanceledException (RabbitMQ.Client's continuation timeout,
        // HttpClient's TaskCanceledException). The pipeline was not stopping, so it is a failure to retry, not a stop:
        // before, it was not retried, and events a 'retry for ever' sink should have held back were dead-lettered.
        var source = new InMemoryChangeSource();
        for (var i = 1; i <= 10; i++)
        {
            source.Add(InMemoryChangeSource.Change(i, "K", "S" + i));
        }

        source.Complete();
        var sink = new RecordingSink("broker") { Fail = (_, call) => call <= 3 ? new TaskCanceledException("The operation was canceled (continuation timeout)") : null };
        var dlq = new RecordingDeadLetterQueue();
        await RunToEnd(Runner(source, dlq, new SinkBinding(sink, FastRetry)));

        Assert.Empty(dlq.Letters);
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), sink.Delivered.Select(e => e.Position.Major));
    }

    [Fact]
    public async Task A_poison_event_is_dead_lettered_and_the_rest_of_its_batch_still_flows()
    {
        var source = new InMemoryChangeSource();
        for (var i = 1; i <= 10; i++)
        {
            source.Add(InMemoryChangeSource.Change(i, "K" + i, i == 4 ? "POISON" : "S"));
        }

        source.Complete();
        var sink = new RecordingSink("hook")
        {
            Fail = (batch, _) => batch.FirstOrDefault(e => e.Type == "StatusPOISON") is { } bad
                ? new PermanentDeliveryException(bad, "400 Bad Request")
                : null,
        };
        var dlq = new RecordingDeadLetterQueue();
        await RunToEnd(Runner(source, dlq, new SinkBinding(sink, FastRetry)));

        Assert.Equal(new long[] { 1, 2, 3, 5, 6, 7, 8, 9, 10 }, sink.Delivered.Select(e => e.Position.Major).Distinct());
        var letter = Assert.Single(dlq.Letters);
        Assert.Equal("hook", letter.Stage);
        Assert.Equal("StatusPOISON", letter.EventType);
        Assert.Equal(4, letter.Position!.Value.Major);
        Assert.Contains("400", letter.Error, StringComparison.Ordinal);
        Assert.Contains("\"ord_sts_cd\":\"POISON\"", System.Text.Encoding.UTF8.GetString(letter.Payload.Span), StringComparison.Ordinal);
        Assert.Equal(10, source.Acknowledged.Last().Major);
    }

    /// <summary>
    /// The probes name a sink whose latest delivery failed (<see cref="PipelineRunner.FailingSinks"/>). A poison event last in
    /// an otherwise healthy batch left its sink "failing for 0 s" until the sink's next success, though the sink delivered the
    /// rest of the batch: one bad event is not a failing sink. A sink that fails every event of a batch still is.
    /// </summary>
    [Fact]
    public async Task A_poison_event_does_not_mark_its_sink_failing_but_a_sink_failing_every_event_of_a_batch_is()
    {
        var source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(1, "K", "S"));
        source.Complete();
        var sink = new RecordingSink("hook")
        {
            Fail = (batch, _) => batch.FirstOrDefault(e => e.Type == "Second") is { } bad ? new PermanentDeliveryException(bad, "400 Bad Request") : null,
        };
        var dlq = new RecordingDeadLetterQueue();
        var runner = new PipelineRunner(source, new TwoEventTranslator(), [new(sink, FastRetry)], dlq, new PipelineRunnerOptions { BufferCapacity = 16, MaxBatchSize = 7 });
        await RunToEnd(runner);

        Assert.Equal(["First"], sink.Delivered.Select(e => e.Type));
        Assert.Equal("Second", Assert.Single(dlq.Letters).EventType);
        Assert.Empty(runner.FailingSinks);

        source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(1, "K", "S"));
        source.Complete();
        var down = new RecordingSink("down") { Fail = (_, _) => new IOException("refused") };
        runner = new PipelineRunner(source, new TwoEventTranslator(), [new(down, FastRetry)], new RecordingDeadLetterQueue(), new PipelineRunnerOptions { BufferCapacity = 16, MaxBatchSize = 7 });
        await RunToEnd(runner);

        var failing = Assert.Single(runner.FailingSinks);
        Assert.Equal("down", failing.Sink);
        Assert.Equal("refused", failing.LastError);
        Assert.False(failing.Ignored);
    }

    [Fact]
    public async Task Retries_exhausted_dead_letters_with_the_attempt_count()
    {
        var source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(1, "K", "S"));
        source.Complete();
        var sink = new RecordingSink("down") { Fail = (_, _) => new IOException("refused") };
        var dlq = new RecordingDeadLetterQueue();
        await RunToEnd(Runner(source, dlq, new SinkBinding(sink, FastRetry)));

        var letter = Assert.Single(dlq.Letters);
        Assert.Equal(3, letter.Attempts);
        Assert.Equal(3, sink.Calls);
        Assert.Equal(1, source.Acknowledged.Single().Major);
    }

    [Fact]
    public async Task A_dead_letter_the_store_cannot_keep_stops_the_run_naming_the_change_s_position()
    {
        // The stop's line (run's last) said "a dead letter of sink 'down'" or "of a change that failed to translate" without
        // saying which change: the decode letter's line names its record, the runner's letters must name theirs.
        var source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(2, "K", "S"));
        source.Complete();
        var sink = new RecordingSink("down") { Fail = (_, _) => new IOException("refused") };
        var stop = await Assert.ThrowsAsync<DeadLetterStoreException>(() => RunToEnd(Runner(source, new RefusingDeadLetterQueue(), new SinkBinding(sink, FastRetry))));
        Assert.Equal("down", stop.Stage);
        Assert.Equal(new SourcePosition("slot", 2), stop.Record);
        Assert.Contains("of sink 'down' (position slot@2:0): ", stop.Message, StringComparison.Ordinal);

        var untranslatable = new InMemoryChangeSource();
        untranslatable.Add(InMemoryChangeSource.Change(1, "K", "S"));
        untranslatable.Add(InMemoryChangeSource.Change(3, "K", "X"));
        untranslatable.Complete();
        stop = await Assert.ThrowsAsync<DeadLetterStoreException>(() => RunToEnd(Runner(untranslatable, new RefusingDeadLetterQueue(), new SinkBinding(new RecordingSink("s"), SinkPolicy.Default))));
        Assert.Equal("translate", stop.Stage);
        Assert.Equal(new SourcePosition("slot", 3), stop.Record);
        Assert.Contains("of a change that failed to translate (position slot@3:0): ", stop.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(untranslatable.Acknowledged, p => p.Major == 3);
    }

    private sealed class RefusingDeadLetterQueue : IDeadLetterQueue
    {
        public ValueTask WriteAsync(DeadLetter letter, CancellationToken cancellationToken) => throw new IOException("No space left on device");
    }

    [Fact]
    public async Task Ignore_policy_drops_for_that_sink_only()
    {
        var source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(1, "K", "S"));
        source.Complete();
        var broken = new RecordingSink("broken") { Fail = (_, _) => new IOException("refused") };
        var fine = new RecordingSink("fine");
        var dlq = new RecordingDeadLetterQueue();
        var runner = Runner(source, dlq, new(broken, new SinkPolicy { OnFailure = FailurePolicy.Ignore }), new(fine, SinkPolicy.Default));
        await RunToEnd(runner);

        Assert.Equal(1, broken.Calls);
        Assert.Single(fine.Delivered);
        Assert.Empty(dlq.Letters);
        // Failing, and configured for that not to matter: the probes name it without calling the pipeline degraded.
        var failing = Assert.Single(runner.FailingSinks);
        Assert.Equal(("broken", true), (failing.Sink, failing.Ignored));
    }

    [Fact]
    public async Task Log_policy_records_in_the_failure_store()
    {
        var source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(1, "K", "S"));
        source.Complete();
        var store = new RecordingFailureStore();
        var sink = new RecordingSink("s") { Fail = (_, _) => new IOException("refused") };
        var runner = new PipelineRunner(source, new StatusTranslator(), [new(sink, new SinkPolicy { OnFailure = FailurePolicy.Log })], new RecordingDeadLetterQueue(), failureStore: store);
        await RunToEnd(runner);

        var (name, e, error) = Assert.Single(store.Records);
        // Recorded at its first failure: retry: is for onFailure: retry only (README, Running a pipeline).
        Assert.Equal(1, sink.Calls);
        Assert.Equal("s", name);
        Assert.Equal("StatusS", e.Type);
        Assert.Equal("refused", error.Message);
    }

    [Fact]
    public async Task A_log_sink_without_a_failure_store_is_warned_about_at_start_and_its_failures_are_dead_lettered()
    {
        // onFailure: log with no failures: section: the failures go to the dead letters, which the operator did not ask for;
        // the start says so, naming the sink and the section to add, instead of it showing only in the dead-letter file.
        var source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(1, "K", "S"));
        source.Complete();
        var logs = new TranslationFailureLogTests.RecordedLogs(Microsoft.Extensions.Logging.LogLevel.Information);
        var dlq = new RecordingDeadLetterQueue();
        var sink = new RecordingSink("hook") { Fail = (_, _) => new IOException("refused") };
        var runner = new PipelineRunner(source, new StatusTranslator(), [new(sink, new SinkPolicy { OnFailure = FailurePolicy.Log }), new(new RecordingSink("fine"), SinkPolicy.Default)],
            dlq, logger: new Microsoft.Extensions.Logging.Logger<PipelineRunner>(logs));
        await RunToEnd(runner);

        Assert.Equal("hook", Assert.Single(dlq.Letters).Stage);
        var warning = Assert.Single(logs.Records, r => r.EventId == 4505);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, warning.Level);
        Assert.Contains("hook", warning.Message, StringComparison.Ordinal);
        Assert.Contains("failures:", warning.Message, StringComparison.Ordinal);
        Assert.Contains("dead-letter", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_untranslatable_change_is_dead_lettered_and_its_position_still_acknowledged()
    {
        var source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(1, "K", "X"));
        source.Add(InMemoryChangeSource.Change(2, "K", "S"));
        source.Complete();
        var sink = new RecordingSink("s");
        var dlq = new RecordingDeadLetterQueue();
        await RunToEnd(Runner(source, dlq, new SinkBinding(sink, SinkPolicy.Default)));

        var letter = Assert.Single(dlq.Letters);
        Assert.Equal("translate", letter.Stage);
        Assert.Contains("status X", letter.Error, StringComparison.Ordinal);
        Assert.Contains("\"kind\":\"change\"", System.Text.Encoding.UTF8.GetString(letter.Payload.Span), StringComparison.Ordinal);
        Assert.Equal([2L], sink.Delivered.Select(e => e.Position.Major));
        Assert.Equal(2, source.Acknowledged.Last().Major);
    }

    [Fact]
    public async Task A_rule_failing_on_a_change_holds_back_the_events_the_other_rules_made_of_it_until_a_redrive()
    {
        // Status X is no code of the lookup: OrderCancelled fails on change 1, OrderTouched (first in the file) does not.
        const string Rules = """
            table: public.tb_ord_mst
            key: ord_no
            lookups:
              status: { P: PLACED, S: SHIPPED }
            events:
              - type: OrderTouched
              - type: OrderCancelled
                when: after.ord_sts_cd != "S"
                data:
                  status: lookup("status", after.ord_sts_cd)
            """;
        var source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(1, "K", "X"));
        source.Add(InMemoryChangeSource.Change(2, "K", "S"));
        source.Complete();
        var sink = new RecordingSink("s");
        var dlq = new RecordingDeadLetterQueue();
        await RunToEnd(new PipelineRunner(source, RuleSet.Parse("orders.yaml", Rules).CreateTranslator("p"), [new SinkBinding(sink, SinkPolicy.Default)], dlq,
            new PipelineRunnerOptions { BufferCapacity = 16, MaxBatchSize = 7 }));

        // The change is one unit: none of its events goes out while one rule fails on it (as a Debezium SMT chain fails the record).
        var letter = Assert.Single(dlq.Letters);
        Assert.Contains("orders#OrderCancelled", letter.Error, StringComparison.Ordinal);
        Assert.Equal([("OrderTouched", 2L)], sink.Delivered.Select(e => (e.Type, e.Position.Major)));
        Assert.Equal(2, source.Acknowledged.Last().Major);

        // Not lost: translated again with the rule fixed (dlq redrive), the change gives both, with the ids run would have given.
        var fixedRules = RuleSet.Parse("orders.yaml", Rules.Replace("S: SHIPPED }", "S: SHIPPED, X: CANCELLED }", StringComparison.Ordinal)).CreateTranslator("p");
        var redriven = new List<DomainEvent>();
        fixedRules.Translate(StoredEvent.ReadChange(System.Text.Encoding.UTF8.GetString(letter.Payload.Span), letter.Position!.Value, letter.ValueTypes), redriven);
        Assert.Equal(["OrderTouched", "OrderCancelled"], redriven.Select(e => e.Type));
        Assert.Equal(EventIds.For(InMemoryChangeSource.Change(1, "K", "X"), "orders#OrderTouched"), redriven[0].Id);
    }

    [Fact]
    public async Task An_event_with_an_extension_name_cloudevents_cannot_carry_is_dead_lettered_at_translation()
    {
        var source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(1, "K", "P"));
        source.Add(InMemoryChangeSource.Change(2, "K", "S"));
        source.Complete();
        // Like every real sink, this one writes the event's CloudEvents form.
        var sink = new RecordingSink("s") { Fail = (batch, _) => { foreach (var e in batch) { EventJson.Serialize(e); } return null; } };
        var dlq = new RecordingDeadLetterQueue();
        var runner = new PipelineRunner(source, new TenantTranslator(), [new SinkBinding(sink, FastRetry)], dlq, new PipelineRunnerOptions { BufferCapacity = 16, MaxBatchSize = 7 });
        await RunToEnd(runner);

        // A sink could never write it: retried there (forever, with maxAttempts: 0), it would hold the pipeline back.
        var letter = Assert.Single(dlq.Letters);
        Assert.Equal("translate", letter.Stage);
        Assert.Contains("'Tenant'", letter.Error, StringComparison.Ordinal);
        Assert.Equal([2L], sink.Delivered.Select(e => e.Position.Major));
        Assert.Equal(2, source.Acknowledged.Last().Major);
    }

    /// <summary>A C# translator that names an extension attribute the way CloudEvents forbids (upper case), for status P.</summary>
    private sealed class TenantTranslator : IChangeTranslator
    {
        public void Translate(ChangeEvent change, ICollection<DomainEvent> output)
        {
            var events = new List<DomainEvent>();
            new StatusTranslator().Translate(change, events);
            foreach (var e in events)
            {
                output.Add(e.Type != "StatusP" ? e : new DomainEvent
                {
                    Id = e.Id,
                    Type = e.Type,
                    Source = e.Source,
                    Subject = e.Subject,
                    Data = e.Data,
                    Position = e.Position,
                    Change = e.Change,
                    Extensions = new Dictionary<string, string> { ["Tenant"] = "acme" },
                });
            }
        }
    }

    [Fact]
    public async Task An_untranslatable_change_is_dead_lettered_with_its_original_value_and_key_bytes()
    {
        // A redrive re-produces a letter with the letter's key: without the original key, a compacted topic
        // refuses the record and any other topic puts it on an arbitrary partition.
        var source = new InMemoryChangeSource();
        byte[] value = [0, 0, 0, 0, 3, 2, 4];
        byte[] key = [0, 0, 0, 0, 2, 14];
        var poison = InMemoryChangeSource.Change(1, "K", "X");
        source.Add(new ChangeEvent
        {
            Kind = poison.Kind,
            Operation = poison.Operation,
            Source = poison.Source,
            Position = SourcePosition.ForKafka("legacy.public.tb_ord_mst", 2, 41),
            Key = poison.Key,
            After = poison.After,
            Raw = value,
            RawKey = key,
        });
        source.Complete();
        var dlq = new RecordingDeadLetterQueue();
        await RunToEnd(Runner(source, dlq, new SinkBinding(new RecordingSink("s"), SinkPolicy.Default)));

        var letter = Assert.Single(dlq.Letters);
        Assert.Equal("translate", letter.Stage);
        Assert.Equal(value, letter.Payload.ToArray());
        Assert.Equal(key, letter.Key?.ToArray());
    }

    [Fact]
    public async Task Type_filters_and_command_targets_route_events()
    {
        var source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(1, "K", "P"));
        source.Add(InMemoryChangeSource.Change(2, "K", "S"));
        source.Add(InMemoryChangeSource.Change(3, "K", "CMD"));
        source.Complete();
        var onlyShipped = new RecordingSink("a");
        var all = new RecordingSink("b");
        var dlq = new RecordingDeadLetterQueue();
        await RunToEnd(Runner(source, dlq,
            new(onlyShipped, new SinkPolicy { Types = new HashSet<string> { "StatusS", "StatusCMD" } }),
            new(all, SinkPolicy.Default)));

        Assert.Equal(["StatusS"], onlyShipped.Delivered.Select(e => e.Type));
        Assert.Equal(["StatusP", "StatusS", "StatusCMD"], all.Delivered.Select(e => e.Type));
        Assert.Empty(dlq.Letters);
    }

    [Fact]
    public async Task A_full_buffer_stops_reading_from_the_source()
    {
        var source = new InMemoryChangeSource();
        for (var i = 1; i <= 200; i++)
        {
            source.Add(InMemoryChangeSource.Change(i, "K", "S"));
        }

        var release = new TaskCompletionSource();
        var stalled = new RecordingSink("stalled") { Gate = () => release.Task };
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var run = Runner(source, new RecordingDeadLetterQueue(), new SinkBinding(stalled, SinkPolicy.Default)).RunAsync(cts.Token);

        await WaitUntil(() => stalled.Calls == 1);
        await Task.Delay(100, TestContext.Current.CancellationToken);
        // one batch in the sink (≤ 7), the buffer (16), one change the reader holds while waiting
        Assert.InRange(source.Read, 16, 7 + 16 + 1);

        release.SetResult();
        source.Complete();
        await run.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.Equal(200, stalled.Delivered.Count);
    }

    [Fact]
    public async Task A_stop_delivers_and_acknowledges_what_was_already_read()
    {
        var source = new InMemoryChangeSource();
        for (var i = 1; i <= 50; i++)
        {
            source.Add(InMemoryChangeSource.Change(i, "K", "S"));
        }

        var release = new TaskCompletionSource();
        var sink = new RecordingSink("s") { Gate = () => release.Task };
        using var stop = new CancellationTokenSource();
        var run = Runner(source, new RecordingDeadLetterQueue(), new SinkBinding(sink, SinkPolicy.Default)).RunAsync(stop.Token);
        await WaitUntil(() => sink.Calls == 1);

        await stop.CancelAsync();
        release.SetResult();
        await run.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        // Everything that entered the buffer is delivered; the one change the reader may have held
        // while waiting for room is not acknowledged, so the source will send it again.
        Assert.InRange(sink.Delivered.Count, source.Read - 1, source.Read);
        Assert.Equal(Enumerable.Range(1, sink.Delivered.Count).Select(i => (long)i), sink.Delivered.Select(e => e.Position.Major));
        Assert.Equal(sink.Delivered[^1].Position, source.Acknowledged.Last());
        Assert.True(source.Read < 50, "reading stopped at the stop request");
    }

    [Fact]
    public async Task A_sink_that_commits_source_positions_gets_a_batch_only_after_every_other_sink_has_it()
    {
        var source = new InMemoryChangeSource();
        for (var i = 1; i <= 50; i++)
        {
            source.Add(InMemoryChangeSource.Change(i, "K" + (i % 5), "S" + i));
        }

        source.Complete();
        var fast = new RecordingSink("fast");
        var slow = new RecordingSink("slow") { Gate = () => Task.Delay(20) };
        var committing = new CommittingSink("kafka-eos", e => fast.Delivered.Any(d => d.Id == e.Id) && slow.Delivered.Any(d => d.Id == e.Id));
        await RunToEnd(Runner(source, new RecordingDeadLetterQueue(), new(committing, SinkPolicy.Default), new(fast, SinkPolicy.Default), new(slow, SinkPolicy.Default)));

        Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), committing.Delivered.Select(e => e.Position.Major));
        Assert.Empty(committing.Early);
        Assert.Equal(50, source.Acknowledged.Last().Major);
    }

    [Fact]
    public async Task When_another_sink_fails_for_good_the_committing_sink_gets_the_batch_after_its_dead_letter()
    {
        var source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(1, "K", "S"));
        source.Add(InMemoryChangeSource.Change(2, "K", "P"));
        source.Complete();
        var dlq = new RecordingDeadLetterQueue();
        var down = new RecordingSink("down") { Fail = (_, _) => new IOException("503 Service Unavailable") };
        var committing = new CommittingSink("kafka-eos", e => dlq.Letters.Any(l => l.EventId == e.Id));
        await RunToEnd(Runner(source, dlq, new(down, FastRetry), new(committing, SinkPolicy.Default)));

        // The other sink's failure was settled (the event dead-lettered) before the committing sink got each event.
        Assert.Equal(2, dlq.Letters.Count);
        Assert.Empty(committing.Early);
        Assert.Equal([1L, 2L], committing.Delivered.Select(e => e.Position.Major));
        Assert.Equal(2, source.Acknowledged.Last().Major);
    }

    [Fact]
    public async Task A_stop_while_another_sink_holds_the_batch_never_hands_it_to_the_committing_sink()
    {
        var source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(1, "K", "S"));
        var held = new RecordingSink("held") { Gate = () => new TaskCompletionSource().Task };
        var committing = new CommittingSink("kafka-eos", _ => true);
        using var stop = new CancellationTokenSource();
        var runner = new PipelineRunner(source, new StatusTranslator(), [new(held, SinkPolicy.Default), new(committing, SinkPolicy.Default)], new RecordingDeadLetterQueue(),
            new PipelineRunnerOptions { BufferCapacity = 16, MaxBatchSize = 7, DrainTimeout = TimeSpan.FromMilliseconds(200) });
        var run = runner.RunAsync(stop.Token);
        await WaitUntil(() => held.Calls == 1);

        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        Assert.Equal(0, committing.Calls);
        Assert.Empty(source.Acknowledged);
    }

    [Fact]
    public async Task A_stop_whose_drain_runs_out_of_time_is_reported_as_cut_short()
    {
        // The sink never finishes (a broker that is down, retried forever): the drain can only end by its time-out,
        // and what was read is not acknowledged — the caller must not take it for a clean stop.
        var source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(1, "K", "S"));
        var held = new RecordingSink("held") { Gate = () => new TaskCompletionSource().Task };
        using var stop = new CancellationTokenSource();
        var runner = new PipelineRunner(source, new StatusTranslator(), [new(held, SinkPolicy.Default)], new RecordingDeadLetterQueue(),
            new PipelineRunnerOptions { BufferCapacity = 16, MaxBatchSize = 7, DrainTimeout = TimeSpan.FromMilliseconds(200) });
        var run = runner.RunAsync(stop.Token);
        await WaitUntil(() => held.Calls == 1);

        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        Assert.Empty(source.Acknowledged);
        Assert.True(runner.DrainCutShort);
    }

    [Fact]
    public async Task A_stop_with_nothing_left_to_deliver_is_not_cut_short_even_with_a_zero_drainTimeout()
    {
        // drainTimeout 00:00:00 (valid: "stop at once") cancels the idle delivery loop before the reader has ended the
        // buffer; with nothing read but unacknowledged, that is still a clean stop, not an exit 1.
        // The source takes a moment to end its read after the stop (the Kafka source joins its poll thread).
        var source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(1, "K", "S"));
        var readEnds = new TaskCompletionSource();
        var sink = new RecordingSink("file");
        using var stop = new CancellationTokenSource();
        var runner = new PipelineRunner(new SlowToStopSource(source, readEnds.Task), new StatusTranslator(), [new(sink, SinkPolicy.Default)], new RecordingDeadLetterQueue(),
            new PipelineRunnerOptions { BufferCapacity = 16, MaxBatchSize = 7, DrainTimeout = TimeSpan.Zero });
        var run = runner.RunAsync(stop.Token);
        await WaitUntil(() => !source.Acknowledged.IsEmpty);

        await stop.CancelAsync();
        await Task.Delay(500, TestContext.Current.CancellationToken);
        readEnds.SetResult();
        await run.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        Assert.False(runner.DrainCutShort);
    }

    [Fact]
    public async Task A_stop_that_delivers_everything_buffered_is_not_cut_short()
    {
        var source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(1, "K", "S"));
        var sink = new RecordingSink("file");
        using var stop = new CancellationTokenSource();
        var runner = new PipelineRunner(source, new StatusTranslator(), [new(sink, SinkPolicy.Default)], new RecordingDeadLetterQueue(),
            new PipelineRunnerOptions { BufferCapacity = 16, MaxBatchSize = 7, DrainTimeout = TimeSpan.FromSeconds(30) });
        var run = runner.RunAsync(stop.Token);
        await WaitUntil(() => !source.Acknowledged.IsEmpty);

        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        Assert.False(runner.DrainCutShort);
    }

    [Fact]
    public async Task Isolating_a_failed_batch_never_commits_a_change_whose_other_events_are_still_to_come()
    {
        // One change, two events for a sink that commits source positions (the Kafka sink in exactly-once mode). The
        // batch fails, so the runner tries event by event; the first goes through, the second keeps failing — and the
        // service is stopped meanwhile. Had the first event's delivery committed the change's position, the restarted
        // source would resume after the change and the second event would never be delivered.
        var source = new InMemoryChangeSource();
        source.Add(InMemoryChangeSource.Change(1, "K", "S"));
        var secondTried = new TaskCompletionSource();
        var committing = new CommittingSink("kafka-eos", _ => true)
        {
            Fail = (batch, _) =>
            {
                if (batch.Count > 1)
                {
                    return new PermanentDeliveryException(batch[1], "the batch is refused: isolate");
                }

                if (batch[0].Type == "Second")
                {
                    secondTried.TrySetResult();
                    return new IOException("the broker for the second event's topic is down");
                }

                return null;
            },
        };
        using var stop = new CancellationTokenSource();
        var runner = new PipelineRunner(source, new TwoEventTranslator(), [new(committing, new SinkPolicy { MaxAttempts = 0, InitialDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(5) })],
            new RecordingDeadLetterQueue(), new PipelineRunnerOptions { BufferCapacity = 16, MaxBatchSize = 7, DrainTimeout = TimeSpan.FromMilliseconds(200) });
        var run = runner.RunAsync(stop.Token);
        await secondTried.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        Assert.Equal(["First"], committing.Delivered.Select(e => e.Type));
        Assert.Empty(committing.CommittedPositions);
        Assert.Empty(source.Acknowledged);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached in 10 s");
            await Task.Delay(5, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>
    /// A sink that commits source positions itself (as the Kafka sink does in exactly-once mode). It notes every
    /// event it is handed that <paramref name="othersHave"/> says not every other sink has yet.
    /// </summary>
    private sealed class CommittingSink(string name, Func<DomainEvent, bool> othersHave) : ISourceCommittingSink
    {
        private readonly RecordingSink _inner = new(name);
        private readonly ConcurrentQueue<DomainEvent> _early = new();
        private readonly ConcurrentQueue<SourcePosition> _committed = new();

        public string Name => name;

        public bool CommitsSourcePositions => true;

        public IReadOnlyList<DomainEvent> Early => _early.ToArray();

        public IReadOnlyList<DomainEvent> Delivered => _inner.Delivered;

        public int Calls => _inner.Calls;

        public Func<IReadOnlyList<DomainEvent>, int, Exception?>? Fail
        {
            get => _inner.Fail;
            init => _inner.Fail = value;
        }

        /// <summary>The positions its deliveries committed, as a transaction would: every position it was handed.</summary>
        public IReadOnlyList<SourcePosition> CommittedPositions => _committed.ToArray();

        public async ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken)
        {
            await DeliverPartAsync(batch, cancellationToken);
            _committed.Enqueue(batch[^1].Position);
        }

        /// <summary>Delivers, and commits only the positions before the last event's (none here: the runner hands over one event).</summary>
        public ValueTask DeliverPartAsync(IReadOnlyList<DomainEvent> events, CancellationToken cancellationToken)
        {
            foreach (var e in events.Where(e => !othersHave(e)))
            {
                _early.Enqueue(e);
            }

            return _inner.DeliverAsync(events, cancellationToken);
        }

        public ValueTask DisposeAsync() => default;
    }

    /// <summary>Two events per change, "First" then "Second", sharing the change's position.</summary>
    private sealed class TwoEventTranslator : IChangeTranslator
    {
        public void Translate(ChangeEvent change, ICollection<DomainEvent> output)
        {
            foreach (var type in (string[])["First", "Second"])
            {
                output.Add(new DomainEvent
                {
                    Id = EventIds.For(change.Position, type),
                    Type = type,
                    Source = "/test",
                    Subject = (string)change.Key!["ord_no"]!,
                    Data = change.After,
                    Position = change.Position,
                    Change = change,
                });
            }
        }
    }

    private sealed class RecordingFailureStore : IFailureStore
    {
        public List<(string Sink, DomainEvent Event, Exception Error)> Records { get; } = [];

        public ValueTask RecordAsync(string sinkName, DomainEvent domainEvent, Exception error, int attempts, CancellationToken cancellationToken)
        {
            Records.Add((sinkName, domainEvent, error));
            return default;
        }
    }

    private sealed class SlowToStopSource(InMemoryChangeSource inner, Task readEnds) : IChangeSource
    {
        public async IAsyncEnumerable<ChangeEvent> ReadAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await using var changes = inner.ReadAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
            while (true)
            {
                try
                {
                    if (!await changes.MoveNextAsync())
                    {
                        yield break;
                    }
                }
                catch (OperationCanceledException)
                {
                    await readEnds;
                    throw;
                }

                yield return changes.Current;
            }
        }

        public ValueTask AcknowledgeAsync(SourcePosition position, CancellationToken cancellationToken) => inner.AcknowledgeAsync(position, cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
