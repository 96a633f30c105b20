using System.CommandLine;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Debezium;

namespace CdcPipeline.Commands;

/// <summary>The connector settings that change how records decode, as options of <c>decode</c> and <c>translate</c>.</summary>
internal sealed class DecoderCliOptions
{
    private readonly Option<BinaryHandlingMode> _binary = new("--binary-handling-mode")
    {
        Description = "the connector's binary.handling.mode, for BYTEA columns sent as strings with propagated source types",
        DefaultValueFactory = _ => BinaryHandlingMode.Bytes,
    };

    private readonly Option<string> _placeholder = new("--unavailable-placeholder")
    {
        Description = "the connector's unavailable.value.placeholder",
        DefaultValueFactory = _ => Unavailable.DebeziumPlaceholder,
    };

    public void AddTo(Command command)
    {
        command.Options.Add(_binary);
        command.Options.Add(_placeholder);
    }

    public DebeziumDecoderOptions Read(ParseResult parse) => new()
    {
        BinaryHandlingMode = parse.GetValue(_binary),
        UnavailablePlaceholder = parse.GetValue(_placeholder) ?? Unavailable.DebeziumPlaceholder,
    };
}
