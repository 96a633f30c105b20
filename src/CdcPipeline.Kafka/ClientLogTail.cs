using CdcPipeline.Core.Configuration;
using Confluent.Kafka;

namespace CdcPipeline.Kafka;

/// <summary>
/// The last warning or error librdkafka logged, for a one-shot command's error message. The command keeps the
/// clients quiet (no retry chatter on its output) and shows this line only when it fails.
/// </summary>
public sealed class ClientLogTail
{
    private volatile string? _last;

    /// <summary>The last warning or error, or null when there was none.</summary>
    public string? Last => _last;

    /// <summary>For <c>SetLogHandler</c> on any client builder.</summary>
    public void Handle(IClient client, LogMessage message)
    {
        if (message.Level <= SyslogLevel.Warning)
        {
            _last = UrlCredentials.HideIn(message.Message);
        }
    }
}
