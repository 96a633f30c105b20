using System.Buffers;
using System.CommandLine;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Debezium;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Translation;
using CdcPipeline.Core.Translation.Rules;
using CdcPipeline.Hosting;
using CdcPipeline.Kafka.Source;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Commands;

/// <summary>
/// <c>translate --rules DIR [FILE]</c>: the rule author's dry run. The input of <c>decode</c> (Debezium records) and
/// its output (canonical change lines, the embedded path's form), told apart per line; prints the domain events the
/// rules produce, one CloudEvents JSON line each (a change may produce none or several). A line that names no table
/// is refused like a bad line. A dead-letter file's lines are read as they are: a <c>translate</c> letter's change with its
/// position and value types; with <c>--config</c>, a Kafka source's <c>translate</c> letter too, its record decoded as that
/// pipeline's source decodes it (JSON, or Avro with its Schema Registry), as <c>dlq redrive</c> does; other letters are
/// refused like bad lines.
/// </summary>
internal static class TranslateCommand
{
    public static Command Create()
    {
        var file = RecordLines.FileArgument(
            "kcat -J JSON lines, bare Debezium value JSON lines, canonical change lines (decode's output, the embedded path's form), or a dead-letter file's translate letters; stdin when omitted or -");
        var rules = new Option<DirectoryInfo>("--rules", "-r") { Description = "directory of rule files (*.yaml)", Required = true };
        var name = new Option<string>("--name") { Description = "pipeline name used in the CloudEvents source", DefaultValueFactory = _ => "dry-run" };
        var config = new Option<FileInfo?>("--config", "-c") { Description = "a pipeline configuration whose Kafka source decodes the records its translate dead letters hold (format, debezium:, Schema Registry)" };
        var decoderOptions = new DecoderCliOptions();
        var command = new Command("translate", "Translate Debezium records or canonical change lines with rule files into domain events (CloudEvents JSON lines): a dry run of the rules.")
        {
            file,
            rules,
            name,
            config,
        };
        decoderOptions.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            IChangeTranslator translator;
            try
            {
                translator = Translators.Create(parse.GetRequiredValue(rules).FullName, parse.GetValue(name) ?? "dry-run");
            }
            catch (RuleLoadException e) when (e.Errors.All(problem => problem.Line == 0 && problem.File == parse.GetRequiredValue(rules).FullName))
            {
                // --rules names no directory, or one without rule files: the command line is what to correct.
                return await ExpectedFailure.UsageAsync(parse, $"translate: --rules {string.Join("; ", e.Errors)}").ConfigureAwait(false);
            }
            catch (RuleLoadException e)
            {
                // What the rule files say (each problem at its file:line): the files are what to correct, not the command line.
                await parse.InvocationConfiguration.Error.WriteLineAsync(e.Message).ConfigureAwait(false);
                return 2;
            }
            catch (DirectoryNotFoundException e)
            {
                return await ExpectedFailure.UsageAsync(parse, $"translate: --rules: {e.Message}").ConfigureAwait(false);
            }

            PipelineConfiguration? pipeline = null;
            if (parse.GetValue(config) is { } path && (pipeline = ConfigFile.TryLoad(path, parse.InvocationConfiguration.Error)) is null)
            {
                return 2;
            }

            if (pipeline is null)
            {
                return await RecordLines.WithStreamsAsync(parse, parse.GetValue(file), (input, output) =>
                    RunAsync(input, output, Console.Error, decoderOptions.Read(parse), translator, cancellationToken)).ConfigureAwait(false);
            }

            var services = new ServiceCollection()
                .AddLogging(logging => logging.AddProvider(new CommandLineLog("translate", Console.Error)))
                .AddCdcPipeline()
                .BuildServiceProvider();
            await using (services.ConfigureAwait(false))
            {
                // Built at the first letter that needs it, as dlq redrive builds it: a pipeline whose source is not Kafka
                // refuses such a letter, not the whole run.
                IKafkaRecordDecoder? decoder = null;
                IKafkaRecordDecoder SourceDecoder() => decoder ??= DeadLetterFile.KafkaDecoder(pipeline, services, translator);
                return await RecordLines.WithStreamsAsync(parse, parse.GetValue(file), (input, output) =>
                    RunAsync(input, output, Console.Error, decoderOptions.Read(parse), translator, cancellationToken, SourceDecoder)).ConfigureAwait(false);
            }
        });
        return command;
    }

    /// <param name="sourceDecoder">The decoder of the <c>--config</c> pipeline's Kafka source, for its translate letters; null without <c>--config</c>.</param>
    /// <remarks>
    /// The rules are checked against the column types of each Debezium record's schema, the first time a record brings it,
    /// as the Kafka source checks them (event 1117's text): each mistyped expression is one line on <paramref name="errors"/>,
    /// once, before the first record it fails on. Canonical change lines and records without schema tell no types.
    /// </remarks>
    public static async Task<int> RunAsync(Stream input, Stream output, TextWriter errors, DebeziumDecoderOptions options, IChangeTranslator translator, CancellationToken cancellationToken, Func<IKafkaRecordDecoder>? sourceDecoder = null)
    {
        var events = new List<DomainEvent>(4);
        var files = Translators.RuleFiles(translator).ToList();
        using var log = new CommandLineLog("translate", errors);
        var ruleCheck = files.Count > 0 ? new ConnectSchemaRuleCheck(files, log.CreateLogger(nameof(TranslateCommand))) : null;
        return await RecordLines.RunAsync(
            input,
            output,
            errors,
            options,
            (change, buffer) =>
            {
                events.Clear();
                translator.Translate(change, events);
                foreach (var e in events)
                {
                    EventJson.Write(buffer, e);
                    buffer.Write("\n"u8);
                }
            },
            cancellationToken,
            forRules: true,
            sourceDecoder,
            ruleCheck).ConfigureAwait(false);
    }
}
