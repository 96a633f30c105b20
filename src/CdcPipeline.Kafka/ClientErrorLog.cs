using CdcPipeline.Core.Configuration;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Kafka;

/// <summary>
/// librdkafka reports every failed attempt of its clients: with the brokers unreachable that is some twenty
/// lines a second for as long as the outage lasts. The first report of an error code is logged at once;
/// repeats within <see cref="Window"/> are only counted, and the count goes with the next report after it, so
/// an outage stays visible (a line every <see cref="Window"/>) without burying everything else. "All brokers
/// down" also says what to check, and so does an error an operator fixes (<see cref="ClientErrorAdvice"/>).
/// </summary>
internal sealed class ClientErrorLog
{
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(30);

    private readonly ILogger _logger;
    private readonly string _client;
    private readonly string _servers;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<ErrorCode, (long LoggedAt, int Repeats)> _last = [];

    /// <param name="client">Who reports: "source cdc-translator", "sink domain", "dead letters".</param>
    public ClientErrorLog(ILogger logger, string client, string servers, TimeProvider? time = null)
    {
        _logger = logger;
        _client = client;
        _servers = servers;
        _time = time ?? TimeProvider.System;
    }

    public void Report(Error error) => Report(error.Code, error.Reason);

    public void Report(ErrorCode code, string reason)
    {
        reason = UrlCredentials.HideIn(reason);
        int repeats;
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            if (_last.TryGetValue(code, out var last) && _time.GetElapsedTime(last.LoggedAt, now) < Window)
            {
                _last[code] = (last.LoggedAt, last.Repeats + 1);
                return;
            }

            repeats = last.Repeats;
            _last[code] = (now, 0);
        }

        if (code == ErrorCode.Local_AllBrokersDown)
        {
            Log.AllBrokersDown(_logger, _client, _servers, repeats);
        }
        else if (repeats > 0)
        {
            Log.ClientErrorRepeated(_logger, _client, code, reason, ClientErrorAdvice.For(code), repeats, Window);
        }
        else
        {
            Log.ClientError(_logger, _client, code, reason, ClientErrorAdvice.For(code));
        }
    }
}
