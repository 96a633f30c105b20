using System.Net.Sockets;
using CdcPipeline.Commands;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using Npgsql;

namespace CdcPipeline.Tests.Commands;

/// <summary>How every command ends on a command line it cannot use: exit 2, the error, no page of help.</summary>
public class CommandLineAppTests
{
    [Theory]
    [InlineData("--partition must be 0 or more", "dlq", "redrive", "--partition", "-1", "--topic", "dead-letters", "--bootstrap-servers", "127.0.0.1:1")]
    [InlineData("--max must be 0 or more", "dlq", "list", "--max", "-1", "--topic", "dead-letters", "--bootstrap-servers", "127.0.0.1:1")]
    [InlineData("--limit must be 1 or more", "failures", "list", "--config", "pipeline.yaml", "--limit", "0")]
    [InlineData("give either --id N (one or more) or --all", "failures", "resend", "--config", "pipeline.yaml")]
    [InlineData("--to 'bogus'", "replay", "--to", "bogus", "--bootstrap-servers", "127.0.0.1:1", "--group", "g", "--topic", "t")]
    [InlineData("'--config'", "run")]
    [InlineData("'--no-such-option'", "db", "check", "--no-such-option")]
    [InlineData("'drop'", "slot", "drop", "--connection", "Host=127.0.0.1;Port=1")]
    [InlineData("'x' for option '--max'", "dlq", "list", "--max", "x", "--topic", "dead-letters", "--bootstrap-servers", "127.0.0.1:1")]
    [InlineData("'x' for option '--max'", "dlq", "redrive", "--max", "x", "--topic", "dead-letters", "--bootstrap-servers", "127.0.0.1:1")]
    [InlineData("'x' for option '--to-offset'", "dlq", "redrive", "--to-offset", "x", "--topic", "dead-letters", "--bootstrap-servers", "127.0.0.1:1")]
    [InlineData("'x' for option '--partition'", "dlq", "redrive", "--partition", "x", "--topic", "dead-letters", "--bootstrap-servers", "127.0.0.1:1")]
    [InlineData("'x' for option '--limit'", "failures", "list", "--config", "pipeline.yaml", "--limit", "x")]
    [InlineData("'x' for option '--id'", "failures", "resend", "--config", "pipeline.yaml", "--id", "x")]
    [InlineData("db prepare: which tables?", "db", "prepare", "--connection", "Host=127.0.0.1;Port=1")]
    [InlineData("db prepare: --password-env CDC_TEST_NEVER_SET_PW: the environment variable is not set", "db", "prepare", "--connection", "Host=127.0.0.1;Port=1", "--tables", "public.t", "--password-env", "CDC_TEST_NEVER_SET_PW")]
    public async Task A_usage_error_exits_2_with_the_error_and_where_to_read_more_not_the_whole_help(string said, params string[] arguments)
    {
        // dlq redrive refused a bad value with exit 1 and the whole help text; replay refused a bad --to with exit 2 and one line.
        // db prepare without tables, or with --password-env naming an unset variable, exited 1 ("the work failed"; the latter
        // only after connecting), though nothing was done and the command line is what to correct.
        // A value that is not a number (`dlq list --max x`, `failures list --limit x`) crashed the parse in our own validators
        // (they read the value before System.CommandLine had said it does not convert): an unhandled exception, exit 134.
        var (output, error) = (new StringWriter(), new StringWriter());

        var exit = await CommandLineApp.InvokeAsync(arguments, output, error, TestContext.Current.CancellationToken);

        Assert.True(exit == 2, $"exit {exit}: {error}{output}");
        Assert.Contains(said, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Usage:", output.ToString() + error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("db prepare: which tables?", "db prepare", "db", "prepare", "--connection", "Host=127.0.0.1;Port=1")]
    [InlineData("db prepare: --password-env CDC_TEST_NEVER_SET_PW:", "db prepare", "db", "prepare", "--connection", "Host=127.0.0.1;Port=1", "--tables", "public.t", "--password-env", "CDC_TEST_NEVER_SET_PW")]
    [InlineData("connector render: --format: 'xml': use avro or json", "connector render", "connector", "render", "--config", "SAMPLE", "--format", "xml")]
    [InlineData("connector status: give --name or --config", "connector status", "connector", "status")]
    [InlineData("connector status: --connect-url 'ftp://connect:8083' is not an http(s) URL", "connector status", "connector", "status", "--name", "legacy-orders", "--connect-url", "ftp://connect:8083")]
    [InlineData("replay: --to 'bogus'", "replay", "replay", "--to", "bogus", "--bootstrap-servers", "127.0.0.1:1", "--group", "g", "--topic", "t")]
    [InlineData("translate: --rules ", "translate", "translate", "--rules", "no-such-rules-directory")]
    [InlineData(": rules directory not found", "translate", "translate", "--rules", "no-such-rules-directory")]
    [InlineData("translate: cannot read 'no-such-file.jsonl'", "translate", "translate", "--rules", "RULES", "no-such-file.jsonl")]
    [InlineData("decode: cannot read 'no-such-file.jsonl'", "decode", "decode", "no-such-file.jsonl")]
    [InlineData("batch resend: 'other-sink-20000101T000000Z' belongs to none of the batch sinks (export)", "batch resend", "batch", "resend", "--config", "BATCH", "--id", "other-sink-20000101T000000Z")]
    [InlineData("batch: --sink 'exprot': ", "batch list", "batch", "list", "--config", "BATCH", "--sink", "exprot")]
    public async Task A_usage_error_the_command_finds_after_parsing_says_where_to_read_more_as_the_parsers_do(string said, string command, params string[] arguments)
    {
        // README: every bad option value is followed by "see 'cdcpipeline <command> --help'"; these, refused by the command
        // itself rather than by System.CommandLine, ended with the error alone (translate and decode wrote it to the
        // console's standard error, not to the invocation's).
        var directory = Directory.CreateTempSubdirectory("cdc-usage-");
        try
        {
            var batch = Path.Combine(directory.FullName, "pipeline.yaml");
            await File.WriteAllTextAsync(batch, """
                name: shop
                source:
                  test: {}
                sinks:
                  - name: export
                    batch: { interval: 01:00:00, spool: b/spool, archive: b/archive, target: { directory: b/outgoing } }
                """, TestContext.Current.CancellationToken);
            arguments = [.. arguments.Select(a => a switch
            {
                "SAMPLE" => CdcPipeline.Tests.Translation.TestChanges.RepoPath("samples", "legacy-orders", "pipeline.kafka.yaml"),
                "RULES" => CdcPipeline.Tests.Translation.TestChanges.RepoPath("samples", "legacy-orders", "rules"),
                "BATCH" => batch,
                _ => a,
            })];
            var (output, error) = (new StringWriter(), new StringWriter());

            var exit = await CommandLineApp.InvokeAsync(arguments, output, error, TestContext.Current.CancellationToken);

            Assert.True(exit == 2, $"exit {exit}: {error}{output}");
            Assert.Contains(said, error.ToString(), StringComparison.Ordinal);
            Assert.EndsWith($"see 'cdcpipeline {command} --help'{Environment.NewLine}", error.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_max_lag_that_is_no_size_is_a_usage_error_that_says_where_to_read_more_before_connecting()
    {
        // It said what was wrong (exit 2) but not where to read more, unlike every other bad option value.
        var (output, error) = (new StringWriter(), new StringWriter());

        var exit = await CommandLineApp.InvokeAsync(["slot", "lag", "--connection", "Host=127.0.0.1;Port=1", "--max-lag", "lots"], output, error, TestContext.Current.CancellationToken);

        Assert.Equal(2, exit);
        Assert.Contains("--max-lag 'lots': expected bytes or a size such as 512kB, 64MB, 1GB", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("see 'cdcpipeline slot lag --help'", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("cannot connect", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_group_command_without_its_subcommand_lists_the_subcommands_and_exits_2()
    {
        var (output, error) = (new StringWriter(), new StringWriter());

        var exit = await CommandLineApp.InvokeAsync(["slot"], output, error, TestContext.Current.CancellationToken);

        Assert.Equal(2, exit);
        Assert.Contains("lag", output.ToString(), StringComparison.Ordinal);
        Assert.Contains("drop", output.ToString(), StringComparison.Ordinal);
    }

    public static TheoryData<Exception, int?> Failures() => new()
    {
        { new ConfigurationException("source:postgres:slot", "a slot name is 1-63 lower-case letters"), 2 },
        { new NpgsqlException("Failed to connect to 127.0.0.1:1", new SocketException((int)SocketError.ConnectionRefused)), 1 },
        { new PostgresException("password authentication failed for user \"cdc\"", "FATAL", "FATAL", "28P01"), 1 },
        { new PostgresException("database \"legacy\" does not exist", "FATAL", "FATAL", "3D000"), 1 },
        { new PostgresException("logical decoding requires wal_level >= logical", "ERROR", "ERROR", "55000"), 1 },
        { new PostgresException("syntax error at or near \"SELEC\"", "ERROR", "ERROR", "42601"), null },
        { new CaptureStoppedException("replication slot 'cdc_slot' is lost (wal_status lost): … Drop it (cdcpipeline slot drop cdc_slot) …"), 1 },
        { new InvalidOperationException("Collection was modified"), null },
        { new NullReferenceException(), null },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void Only_what_an_operator_can_fix_is_an_expected_failure_a_bug_is_not(Exception failure, int? exit)
    {
        Assert.Equal(exit, ExpectedFailure.ExitCode(failure));
    }
}
