using System.Globalization;
using System.Text;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Sinks.Routing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace CdcPipeline.Sinks.RabbitMq;

/// <summary>
/// Publishes each event to an exchange with a routing key per event type, as a persistent message
/// (delivery mode 2) carrying the CloudEvents JSON (the AMQP binding's structured mode plus
/// <c>cloudEvents:*</c> application properties, so consumers can route on headers without parsing); a raw change,
/// whose JSON is the canonical change and not a CloudEvent, goes in binary mode (<c>application/json</c>).
/// The channel has publisher confirms with tracking: a batch counts as delivered only once the
/// broker has confirmed every message (for a durable queue: written to disk); a nack or a channel
/// error throws, and the runner retries the batch — consumers see at-least-once delivery and
/// de-duplicate by message id (= event id).
/// <para>
/// Messages are published <c>mandatory</c>: one the exchange routes to no queue (nobody bound one for its routing key yet) is
/// returned by the broker instead of dropped without a word. It still counts as delivered — the broker confirms it, and sending
/// it again would find no queue either — but it is counted (<c>cdc.events.unreceived</c>) and logged once per routing key per
/// <see cref="UnreceivedWarningInterval"/>, as Redis pub/sub's events without subscriber are.
/// </para>
/// </summary>
public sealed partial class RabbitMqSink : ISink
{
    /// <summary>How often, at most, the warning about messages routed to no queue repeats for one routing key.</summary>
    public static readonly TimeSpan UnreceivedWarningInterval = UnreceivedEvents.WarningInterval;

    private readonly RabbitMqSinkOptions _options;
    private readonly EventTemplate _routingKey;
    private readonly ConnectionFactory _factory;
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private IConnection? _connection;
    private IChannel? _channel;
    private readonly ILogger _logger;
    /// <summary>Messages routed to no queue, counted and rationed for the warning.</summary>
    private readonly UnreceivedEvents _unreceived;

    public RabbitMqSink(string name, RabbitMqSinkOptions options, EventTemplate routingKey, ILogger<RabbitMqSink>? logger = null, Core.Pipeline.PipelineMetrics? metrics = null, TimeProvider? timeProvider = null)
    {
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _unreceived = new UnreceivedEvents(name, metrics, timeProvider);
        Name = name;
        _options = options;
        _routingKey = routingKey;
        _factory = new ConnectionFactory
        {
            Uri = new Uri(options.Uri),
            ClientProvidedName = "cdcpipeline:" + name,
            AutomaticRecoveryEnabled = false,
        };
    }

    public string Name { get; }

    public async ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken)
    {
        // Every routing key first: one that can never be sent fails alone, before any of the batch is published twice.
        var routingKeys = new string[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            routingKeys[i] = _routingKey.Render(batch[i]);
            if (!FitsShortString(routingKeys[i]))
            {
                throw new PermanentDeliveryException(batch[i], string.Create(CultureInfo.InvariantCulture,
                    $"rabbitmq sink '{Name}': routingKey '{_options.RoutingKey}' renders {Encoding.UTF8.GetByteCount(routingKeys[i])} bytes for event {batch[i].Id}, and AMQP allows a routing key at most {ShortStringMax}: route by shorter attributes"));
            }
        }

        var channel = await GetChannelAsync(cancellationToken).ConfigureAwait(false);
        var bodies = new byte[batch.Count][];
        var pending = new List<Task>(Math.Min(batch.Count, _options.MaxOutstandingConfirms));
        try
        {
            for (var i = 0; i < batch.Count; i++)
            {
                // Started in order on one channel, so the broker receives (and queues) them in order;
                // only the confirms are awaited together.
                var e = batch[i];
                bodies[i] = EventJson.SerializeToUtf8(e);
                pending.Add(channel.BasicPublishAsync(_options.Exchange, routingKeys[i], mandatory: true, Properties(e), bodies[i], cancellationToken).AsTask());
                if (pending.Count >= _options.MaxOutstandingConfirms)
                {
                    await ConfirmedAsync(pending, batch, i + 1 - pending.Count).ConfigureAwait(false);
                    pending.Clear();
                }
            }

            await ConfirmedAsync(pending, batch, batch.Count - pending.Count).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // A broken or closed channel cannot be reused; the next attempt reconnects.
            var closed = (e as OperationInterruptedException)?.ShutdownReason ?? channel.CloseReason;
            await ResetAsync().ConfigureAwait(false);
            if (closed is { Initiator: ShutdownInitiator.Peer, ReplyCode: Constants.PreconditionFailed } && TooLarge(batch, bodies, closed.ReplyText) is { } tooLarge)
            {
                // The broker closes the channel for a message over its max_message_size: that message never goes, however
                // often it is sent. The runner dead-letters it and sends the rest of the batch again, one by one.
                throw new PermanentDeliveryException(batch[tooLarge], string.Create(CultureInfo.InvariantCulture,
                    $"rabbitmq sink '{Name}': the broker refuses event {batch[tooLarge].Id} ({batch[tooLarge].Type}), {bodies[tooLarge].Length} bytes, as larger than its max_message_size: {closed.ReplyText}"), e);
            }

            if (closed is { Initiator: ShutdownInitiator.Peer, ReplyCode: Constants.NotFound })
            {
                // A publish only names the exchange: 404 is an exchange that is not there (declareExchange: false and the
                // broker's owner has not declared it, or under another name). Retried: it may be declared meanwhile.
                throw new IOException(string.Create(CultureInfo.InvariantCulture,
                    $"rabbitmq sink '{Name}': exchange '{_options.Exchange}' does not exist on the broker ({closed.ReplyText}): declare it (durable, type {_options.ExchangeType}), or set declareExchange: true to have the sink declare it at start"), e);
            }

            if (e is PublishException p)
            {
                throw new InvalidOperationException($"rabbitmq sink '{Name}': the broker {(p.IsReturn ? "returned" : "nacked")} message {p.PublishSequenceNumber} on exchange '{_options.Exchange}'", p);
            }

            throw;
        }
    }

    /// <summary>
    /// Awaits the confirms of <paramref name="pending"/>, the publishes of <paramref name="batch"/> from <paramref name="first"/> on.
    /// A message the broker returned as unroutable (RabbitMQ.Client throws <see cref="PublishReturnException"/> for it under
    /// confirm tracking; the broker confirms it all the same) is delivered, to no queue: counted and logged, not failed. Any
    /// other failure of a publish propagates.
    /// </summary>
    private async Task ConfirmedAsync(List<Task> pending, IReadOnlyList<DomainEvent> batch, int first)
    {
        try
        {
            await Task.WhenAll(pending).ConfigureAwait(false);
        }
        catch (PublishReturnException)
        {
            for (var j = 0; j < pending.Count; j++)
            {
                if (pending[j].Exception?.InnerException is PublishReturnException returned)
                {
                    Unreceived(batch[first + j], returned);
                }
                else if (!pending[j].IsCompletedSuccessfully)
                {
                    // A nack, a channel closed: the same failure as without any return among them.
                    await pending[j].ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>A message the exchange routed to no queue: counted every time, logged once per routing key per interval.</summary>
    private void Unreceived(DomainEvent e, PublishReturnException returned)
    {
        var key = returned.RoutingKey ?? "";
        if (_unreceived.Count(key))
        {
            LogUnreceived(_logger, Name, e.Id, e.Type, _options.Exchange, key, returned.ReplyCode, returned.ReplyText ?? "", UnreceivedWarningInterval);
        }
    }

    private const int ShortStringMax = 255;

    /// <summary>
    /// The event a 406 channel close refers to when it is RabbitMQ's "message size N is larger than [configured] max size M":
    /// the first published one over M (the largest, should the text say no M); null for any other precondition.
    /// </summary>
    private static int? TooLarge(IReadOnlyList<DomainEvent> batch, byte[]?[] bodies, string replyText)
    {
        const string Marker = "max size ";
        var at = replyText.IndexOf(Marker, StringComparison.Ordinal);
        if (!replyText.Contains("message size", StringComparison.Ordinal) || at < 0)
        {
            return null;
        }

        var digits = replyText.AsSpan(at + Marker.Length);
        var end = 0;
        while (end < digits.Length && char.IsAsciiDigit(digits[end]))
        {
            end++;
        }

        var max = long.TryParse(digits[..end], NumberStyles.None, CultureInfo.InvariantCulture, out var m) ? m : -1;
        int? largest = null;
        for (var i = 0; i < batch.Count; i++)
        {
            if (bodies[i] is not { } body)
            {
                break;
            }

            if (max >= 0 && body.Length > max)
            {
                return i;
            }

            if (largest is null || body.Length > bodies[largest.Value]!.Length)
            {
                largest = i;
            }
        }

        return largest;
    }

    private static bool FitsShortString(string? value) => value is not null && (value.Length <= ShortStringMax / 3 || Encoding.UTF8.GetByteCount(value) <= ShortStringMax);

    private BasicProperties Properties(DomainEvent e)
    {
        var headers = new Dictionary<string, object?>(8, StringComparer.Ordinal);
        foreach (var (name, value) in EventAttributes.Of(e))
        {
            headers["cloudEvents:" + name] = Encoding.UTF8.GetBytes(value);
        }

        return new BasicProperties
        {
            Persistent = true,

            // AMQP short strings (at most 255 bytes). Each repeats an attribute the cloudEvents:* headers carry in full, so
            // one that does not fit (a long legacy key as subject) is left out rather than failing the event.
            MessageId = FitsShortString(e.Id) ? e.Id : null,
            Type = FitsShortString(e.Type) ? e.Type : null,
            // A raw change's body is the canonical change JSON, not a structured CloudEvent: with the cloudEvents:* properties
            // it is a binary-mode event whose data is JSON.
            ContentType = e.IsRawChange ? "application/json" : "application/cloudevents+json",
            ContentEncoding = "utf-8",
            Timestamp = e.Time is { } time ? new AmqpTimestamp(time.ToUnixTimeSeconds()) : default,
            CorrelationId = FitsShortString(e.Subject) ? e.Subject : null,
            Headers = headers,
        };
    }

    private async ValueTask<IChannel> GetChannelAsync(CancellationToken cancellationToken)
    {
        if (_channel is { IsOpen: true } open)
        {
            return open;
        }

        await _connectLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_channel is { IsOpen: true } again)
            {
                return again;
            }

            await ResetAsync().ConfigureAwait(false);
            try
            {
                _connection = await _factory.CreateConnectionAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (BrokerUnreachableException e)
            {
                throw new IOException($"rabbitmq sink '{Name}': cannot reach the broker at {Redacted(_factory.Uri)}: {e.InnerException?.Message ?? e.Message}", e);
            }

            var channel = await _connection.CreateChannelAsync(
                new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true),
                cancellationToken).ConfigureAwait(false);
            if (_options.DeclareExchange)
            {
                await channel.ExchangeDeclareAsync(_options.Exchange, _options.ExchangeType, durable: true, autoDelete: false, arguments: null, cancellationToken: cancellationToken).ConfigureAwait(false);
            }

            _channel = channel;
            return channel;
        }
        finally
        {
            _connectLock.Release();
        }
    }

    private static string Redacted(Uri uri) => new UriBuilder(uri) { UserName = "", Password = "" }.Uri.ToString();

    private async Task ResetAsync()
    {
        var channel = _channel;
        var connection = _connection;
        _channel = null;
        _connection = null;
        if (channel is not null)
        {
            try
            {
                await channel.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Already broken: nothing to clean up.
            }
        }

        if (connection is not null)
        {
            try
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Already broken: nothing to clean up.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_channel is { IsOpen: true })
        {
            try
            {
                await _channel.CloseAsync().ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Closing a channel on a dead connection fails; disposing still releases it.
            }
        }

        await ResetAsync().ConfigureAwait(false);
        _connectLock.Dispose();
    }

    [LoggerMessage(EventId = 4400, Level = LogLevel.Warning, Message = "RabbitMQ sink {Sink} published event {EventId} ({Type}) to exchange {Exchange} with routing key {RoutingKey}, and the broker routed it to no queue ({ReplyCode} {ReplyText}): "
        + "nobody will receive it, and RabbitMQ keeps nothing for queues bound later. Every such event is counted in cdc.events.unreceived; this warning repeats at most every {Interval} per routing key. "
        + "Declare a durable queue and bind it to the exchange for this routing key before events are published (or give the exchange an alternate-exchange)")]
    private static partial void LogUnreceived(ILogger logger, string sink, string eventId, string type, string exchange, string routingKey, ushort replyCode, string replyText, TimeSpan interval);
}
