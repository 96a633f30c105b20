using System.CommandLine;

namespace CdcPipeline.Commands;

/// <summary>Every CLI command, one factory each (one file per command in this folder).</summary>
internal static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return RunCommand.Create();
        yield return DecodeCommand.Create();
        yield return TranslateCommand.Create();
        yield return DbCommand.Create();
        yield return SlotCommand.Create();
        yield return BatchCommand.Create();
        yield return FailuresCommand.Create();
        yield return ReplayCommand.Create();
        yield return DlqCommand.Create();
        yield return ConnectorCommand.Create();
    }
}
