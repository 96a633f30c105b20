using CdcPipeline.Kafka;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace CdcPipeline.Tests.Kafka;

public sealed class ClientErrorLogTests
{
    private readonly ManualClock _clock = new();
    private readonly RecordingLogger _logger = new();

    [Fact]
    public void A_broker_outage_is_logged_once_per_window_with_the_count_of_what_was_held_back()
    {
        var log = new ClientErrorLog(_logger, "source g", "kafka:9092", _clock);

        for (var i = 0; i < 20; i++)
        {
            log.Report(ErrorCode.Local_Transport, $"kafka:9092/bootstrap: Connect failed (attempt {i})");
            _clock.Advance(TimeSpan.FromMilliseconds(50));
        }

        var first = Assert.Single(_logger.Lines);
        Assert.Equal((LogLevel.Warning, 4005), (first.Level, first.EventId));
        Assert.Contains("attempt 0", first.Message, StringComparison.Ordinal);

        _clock.Advance(ClientErrorLog.Window);
        log.Report(ErrorCode.Local_Transport, "kafka:9092/bootstrap: Connect failed (attempt 20)");

        var summary = _logger.Lines[1];
        Assert.Equal(4011, summary.EventId);
        Assert.Contains("19 more time(s)", summary.Message, StringComparison.Ordinal);
        Assert.Contains("attempt 20", summary.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Each_error_code_has_its_own_window_and_all_brokers_down_says_what_to_check()
    {
        var log = new ClientErrorLog(_logger, "sink domain", "kafka:9092", _clock);

        log.Report(ErrorCode.Local_Transport, "connect failed");
        log.Report(ErrorCode.Local_AllBrokersDown, "1/1 brokers are down");
        log.Report(ErrorCode.Local_AllBrokersDown, "1/1 brokers are down");
        log.Report(ErrorCode.TopicAuthorizationFailed, "not authorized");

        Assert.Equal([4005, 4012, 4005], _logger.Lines.Select(l => l.EventId));
        var down = _logger.Lines[1];
        Assert.Equal(LogLevel.Error, down.Level);
        Assert.Contains("sink domain", down.Message, StringComparison.Ordinal);
        Assert.Contains("no broker of kafka:9092 is reachable", down.Message, StringComparison.Ordinal);
        Assert.Contains("Check the bootstrap servers", down.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Failed to retrieve OIDC token from \"https://idp:S3cret@login.example/token\": 401", "from \"https://***@login.example/token\": 401")]
    [InlineData("Failed to retrieve OIDC token from \"https://idp:S3c#r/et@login.example/token\": 401", "from \"https://***@login.example/token\": 401")]
    public void A_url_in_a_client_error_is_logged_without_its_credentials(string reason, string logged)
    {
        new ClientErrorLog(_logger, "source g", "kafka:9092", _clock).Report(ErrorCode.Local_Authentication, reason);

        var line = Assert.Single(_logger.Lines);
        Assert.Contains(logged, line.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("S3c", line.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(ErrorCode.InconsistentGroupProtocol, "JoinGroup failed: Broker: Inconsistent group protocol", "use one source.kafka.consumer.partition.assignment.strategy")]
    [InlineData(ErrorCode.GroupAuthorizationFailed, "JoinGroup failed: Broker: Group authorization failed", "READ on the consumer group")]
    [InlineData(ErrorCode.TopicAuthorizationFailed, "Subscribed topic not available: t: Broker: Topic authorization failed", "READ and DESCRIBE on the topic to read it (source), WRITE")]
    [InlineData(ErrorCode.TransactionalIdAuthorizationFailed, "Failed to acquire transactional PID: Broker: Transactional Id authorization failed", "WRITE and DESCRIBE on its transactional.id")]
    [InlineData(ErrorCode.ClusterAuthorizationFailed, "Failed to acquire idempotence PID: Broker: Cluster authorization failed", "IDEMPOTENT_WRITE on the cluster")]
    [InlineData(ErrorCode.SaslAuthenticationFailed, "Broker: SASL Authentication failed", "check sasl.mechanism, sasl.username and sasl.password")]
    [InlineData(ErrorCode.Local_Authentication, "SASL authentication error: Authentication failed: Invalid username or password (after 3ms in state AUTH_REQ)", "check sasl.mechanism, sasl.username and sasl.password")]
    [InlineData(ErrorCode.Local_Ssl, "ssl://kafka:9093/bootstrap: SSL handshake failed: certificate verify failed (after 5ms in state SSL_HANDSHAKE)", "check ssl.ca.location")]
    public void An_error_the_operator_can_fix_is_logged_with_what_to_do(ErrorCode code, string reason, string advice)
    {
        new ClientErrorLog(_logger, "source g", "kafka:9092", _clock).Report(code, reason);

        var line = Assert.Single(_logger.Lines);
        Assert.Equal((LogLevel.Warning, 4005), (line.Level, line.EventId));
        Assert.StartsWith($"Kafka source g: client error ({code}): {reason}. ", line.Message, StringComparison.Ordinal);
        Assert.Contains(advice, line.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_advice_goes_with_the_count_of_repeats_too_and_repeats_within_the_window_are_still_folded()
    {
        var log = new ClientErrorLog(_logger, "source g", "kafka:9092", _clock);

        for (var i = 0; i < 5; i++)
        {
            log.Report(ErrorCode.InconsistentGroupProtocol, "JoinGroup failed: Broker: Inconsistent group protocol");
            _clock.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Single(_logger.Lines);

        _clock.Advance(ClientErrorLog.Window);
        log.Report(ErrorCode.InconsistentGroupProtocol, "JoinGroup failed: Broker: Inconsistent group protocol");

        Assert.Equal([4005, 4011], _logger.Lines.Select(l => l.EventId));
        var summary = _logger.Lines[1].Message;
        Assert.Contains("4 more time(s)", summary, StringComparison.Ordinal);
        Assert.Contains("latest: JoinGroup failed: Broker: Inconsistent group protocol. ", summary, StringComparison.Ordinal);
        Assert.Contains("source.kafka.consumer.partition.assignment.strategy", summary, StringComparison.Ordinal);
    }

    [Fact]
    public void An_error_without_advice_is_logged_as_before()
    {
        var log = new ClientErrorLog(_logger, "sink domain", "kafka:9092", _clock);

        log.Report(ErrorCode.Local_Transport, "kafka:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused");
        log.Report(ErrorCode.Local_Transport, "kafka:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused");
        _clock.Advance(ClientErrorLog.Window);
        log.Report(ErrorCode.Local_Transport, "kafka:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused");

        Assert.Equal(
            [
                "Kafka sink domain: client error (Local_Transport): kafka:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused",
                "Kafka sink domain: client error (Local_Transport) 1 more time(s) since it was last logged (repeats within 00:00:30 are counted, not logged); "
                    + "latest: kafka:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused",
            ],
            _logger.Lines.Select(l => l.Message));
    }

    private sealed class ManualClock : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }

    private sealed class RecordingLogger : ILogger
    {
        public List<(LogLevel Level, int EventId, string Message)> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((logLevel, eventId.Id, formatter(state, exception)));
    }
}
