using System.Globalization;
using System.Net.Sockets;
using System.Text;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Sinks.Routing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace CdcPipeline.Sinks.RabbitMq;

/// <summary>
/// Publishes each event to an exchange with a routing key per event type, as a persistent message
/// (delivery mode 2) carrying the CloudEvents JSON (the AMQP binding's structured mode plus
/// <c>cloudEvents:*</c> application properties, so consumers can route on headers without parsing); a raw change,
/// whose JSON is the canonical change and not a CloudEvent, goes in binary mode (<c>application/json</c>).
/// The channel has publisher confirms: a batch counts as delivered only once the broker has confirmed
/// every message (for a durable queue: written to disk); a nack or a channel error throws, and the runner
/// retries the batch — consumers see at-least-once delivery and de-duplicate by message id (= event id).
/// The sink waits for the confirms itself (<see cref="Confirms"/>), not with RabbitMQ.Client's confirm tracking,
/// which adds a header of its own (<c>x-dotnet-pub-seq-no</c>) to every message for consumers to see.
/// <para>
/// Messages are published <c>mandatory</c>: one the exchange routes to no queue (nobody bound one for its routing key yet) is
/// returned by the broker instead of dropped without a word. It still counts as delivered — the broker confirms it, and sending
/// it again would find no queue either — but it is counted (<c>cdc.events.unreceived</c>) and logged once per routing key per
/// <see cref="UnreceivedWarningInterval"/>, as Redis pub/sub's events without subscriber are.
/// </para>
/// </summary>
public sealed partial class RabbitMqSink : ISink, ISinkStartCheck
{
    /// <summary>How often, at most, the warning about messages routed to no queue repeats for one routing key.</summary>
    public static readonly TimeSpan UnreceivedWarningInterval = UnreceivedEvents.WarningInterval;

    private readonly RabbitMqSinkOptions _options;
    private readonly EventTemplate _routingKey;
    private readonly ConnectionFactory _factory;

    /// <summary>The uri without its user and password, for errors.</summary>
    private readonly string _endpoint;
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private IConnection? _connection;
    private IChannel? _channel;
    private Confirms? _confirms;
    private readonly ILogger _logger;
    /// <summary>Messages routed to no queue, counted and rationed for the warning.</summary>
    private readonly UnreceivedEvents _unreceived;

    /// <summary>Makes the error that names a setting of the sink (its file and line): the factory's; the key alone without one.</summary>
    private readonly Func<string, string, ConfigurationException> _configurationError;

    public RabbitMqSink(string name, RabbitMqSinkOptions options, EventTemplate routingKey, ILogger<RabbitMqSink>? logger = null, Core.Pipeline.PipelineMetrics? metrics = null, TimeProvider? timeProvider = null,
        Func<string, string, ConfigurationException>? configurationError = null)
    {
        _configurationError = configurationError ?? ((key, reason) => new ConfigurationException(key, reason));
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

            // The TCP connect's own limit (30 s by default), or a longer connectTimeout would still end there.
            RequestedConnectionTimeout = options.ConnectTimeout,
        };
        _endpoint = Redacted(_factory.Uri);
    }

    public string Name { get; }

    /// <summary>How long opening a connection (TCP, TLS, the AMQP handshake and the first channel) may take: <c>connectTimeout</c>, 30 s unless set.</summary>
    internal TimeSpan ConnectTimeout => _options.ConnectTimeout;

    /// <summary>
    /// Connects and declares the exchange before the pipeline reads. A declare RabbitMQ refuses (403: no configure permission;
    /// 406: the exchange exists with another type or durability) is the same on every attempt until the configuration or the
    /// broker's owner changes it: it stops the start, naming the setting. Anything else (a broker away, a refused login) is a
    /// warning, and deliveries retry as always; the connection made here serves the first delivery.
    /// </summary>
    public async ValueTask CheckAtStartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await GetChannelAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DeclareRefusedException refused)
        {
            throw _configurationError(refused.Key, refused.Text);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogNotReadyAtStart(_logger, Name, e.Message);
        }
    }

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

        var (channel, confirms) = await GetChannelAsync(cancellationToken).ConfigureAwait(false);
        var bodies = new byte[batch.Count][];
        var pending = new List<Task>(Math.Min(batch.Count, _options.MaxOutstandingConfirms));
        try
        {
            for (var i = 0; i < batch.Count; i++)
            {
                // Sent in order on one channel, one at a time (so each has the sequence number asked for it), and the broker
                // receives (and queues) them in order; only the confirms are awaited together.
                var e = batch[i];
                bodies[i] = EventJson.SerializeToUtf8(e);
                var sequenceNumber = await channel.GetNextPublishSequenceNumberAsync(cancellationToken).ConfigureAwait(false);
                pending.Add(confirms.Expect(sequenceNumber, e));
                await channel.BasicPublishAsync(_options.Exchange, routingKeys[i], mandatory: true, Properties(e), bodies[i], cancellationToken).ConfigureAwait(false);
                if (pending.Count >= _options.MaxOutstandingConfirms)
                {
                    await Task.WhenAll(pending).WaitAsync(cancellationToken).ConfigureAwait(false);
                    pending.Clear();
                }
            }

            await Task.WhenAll(pending).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Confirms still awaited fail with the channel: observed here, the batch fails on this error.
            foreach (var confirm in pending)
            {
                _ = confirm.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }

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

            if (closed is { Initiator: ShutdownInitiator.Peer, ReplyCode: Constants.AccessRefused })
            {
                // 403 at publish: the user lacks write permission on the exchange. Retried: it may be granted meanwhile.
                LogClientError(_logger, e, Name);
                throw new IOException($"rabbitmq sink '{Name}': RabbitMQ at {_endpoint} refuses user '{_factory.UserName}' publishing to exchange '{_options.Exchange}' in vhost '{_factory.VirtualHost}' ({closed.ReplyText}): "
                    + $"allow it: {PermissionCommand(_options.DeclareExchange)}. {UntilFixed}");
            }

            if (closed is { Initiator: ShutdownInitiator.Peer, ReplyCode: Constants.NotFound })
            {
                // A publish only names the exchange: 404 is an exchange that is not there (declareExchange: false and the
                // broker's owner has not declared it, or under another name). Retried: it may be declared meanwhile.
                throw new IOException(string.Create(CultureInfo.InvariantCulture,
                    $"rabbitmq sink '{Name}': exchange '{_options.Exchange}' does not exist on the broker ({closed.ReplyText}): declare it (durable, type {_options.ExchangeType}), or set declareExchange: true to have the sink declare it at start"), e);
            }

            throw;
        }
    }

    /// <summary>
    /// A message the exchange routed to no queue, returned by the broker (which confirms it all the same): delivered, to no
    /// queue, so counted every time and logged once per routing key per interval. The returned message's own
    /// <c>cloudEvents:*</c> headers name the event.
    /// </summary>
    private Task OnReturnAsync(object sender, BasicReturnEventArgs returned)
    {
        var key = returned.RoutingKey ?? "";
        if (_unreceived.Count(key))
        {
            var headers = returned.BasicProperties.Headers;
            LogUnreceived(_logger, Name, Header(headers, "cloudEvents:id"), Header(headers, "cloudEvents:type"), _options.Exchange, key, returned.ReplyCode, returned.ReplyText ?? "", UnreceivedWarningInterval);
        }

        return Task.CompletedTask;
    }

    private static string Header(IDictionary<string, object?>? headers, string name) =>
        headers is not null && headers.TryGetValue(name, out var value) && value is byte[] bytes ? Encoding.UTF8.GetString(bytes) : "";

    /// <summary>
    /// Publisher confirms of one channel, by sequence number, as the broker sends them (<c>basic.ack</c>, <c>basic.nack</c>,
    /// possibly for several at once): each publish's task completes when the broker confirmed it, fails when it nacked it
    /// (it took no responsibility for the message) or when the channel closed first. RabbitMQ.Client's own tracking would
    /// do this, but it adds a header of its own to every message (to match a return to its publish; we read the event from
    /// the returned message's <c>cloudEvents:id</c> instead).
    /// </summary>
    private sealed class Confirms(string sink, string exchange)
    {
        private readonly Lock _lock = new();
        private readonly Dictionary<ulong, (TaskCompletionSource Confirmed, DomainEvent Event)> _pending = [];
        private ShutdownEventArgs? _closed;

        /// <summary>The confirm of the message about to be published with <paramref name="sequenceNumber"/>.</summary>
        public Task Expect(ulong sequenceNumber, DomainEvent e)
        {
            var confirmed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_lock)
            {
                if (_closed is { } reason)
                {
                    confirmed.SetException(new AlreadyClosedException(reason));
                }
                else
                {
                    _pending[sequenceNumber] = (confirmed, e);
                }
            }

            return confirmed.Task;
        }

        public Task OnAckAsync(object sender, BasicAckEventArgs ack)
        {
            Complete(ack.DeliveryTag, ack.Multiple, nacked: false);
            return Task.CompletedTask;
        }

        public Task OnNackAsync(object sender, BasicNackEventArgs nack)
        {
            Complete(nack.DeliveryTag, nack.Multiple, nacked: true);
            return Task.CompletedTask;
        }

        public Task OnShutdownAsync(object sender, ShutdownEventArgs reason)
        {
            lock (_lock)
            {
                _closed = reason;
                foreach (var (confirmed, _) in _pending.Values)
                {
                    confirmed.TrySetException(new AlreadyClosedException(reason));
                }

                _pending.Clear();
            }

            return Task.CompletedTask;
        }

        private void Complete(ulong deliveryTag, bool multiple, bool nacked)
        {
            lock (_lock)
            {
                if (!multiple)
                {
                    if (_pending.Remove(deliveryTag, out var one))
                    {
                        Complete(deliveryTag, one, nacked);
                    }

                    return;
                }

                foreach (var (sequenceNumber, pending) in _pending)
                {
                    if (sequenceNumber <= deliveryTag)
                    {
                        _pending.Remove(sequenceNumber);
                        Complete(sequenceNumber, pending, nacked);
                    }
                }
            }
        }

        private void Complete(ulong sequenceNumber, (TaskCompletionSource Confirmed, DomainEvent Event) pending, bool nacked)
        {
            if (!nacked)
            {
                pending.Confirmed.TrySetResult();
                return;
            }

            pending.Confirmed.TrySetException(new IOException(string.Create(CultureInfo.InvariantCulture,
                $"rabbitmq sink '{sink}': the broker nacked message {sequenceNumber} (event {pending.Event.Id}, {pending.Event.Type}) on exchange '{exchange}': it did not take it ")
                + "(a queue it routes to is full with x-overflow: reject-publish, or the broker failed to store it); the batch is sent again"));
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

    private async ValueTask<(IChannel Channel, Confirms Confirms)> GetChannelAsync(CancellationToken cancellationToken)
    {
        if (_channel is { IsOpen: true } open && _confirms is { } confirms)
        {
            return (open, confirms);
        }

        await _connectLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_channel is { IsOpen: true } again && _confirms is { } againConfirms)
            {
                return (again, againConfirms);
            }

            await ResetAsync().ConfigureAwait(false);
            var channel = await ConnectAsync(cancellationToken).ConfigureAwait(false);
            var channelConfirms = new Confirms(Name, _options.Exchange);
            channel.BasicAcksAsync += channelConfirms.OnAckAsync;
            channel.BasicNacksAsync += channelConfirms.OnNackAsync;
            channel.ChannelShutdownAsync += channelConfirms.OnShutdownAsync;
            channel.BasicReturnAsync += OnReturnAsync;
            if (channel.CloseReason is { } closed)
            {
                // Closed before the handler was there: nothing published on it would ever be confirmed.
                await channelConfirms.OnShutdownAsync(channel, closed).ConfigureAwait(false);
            }

            if (_options.DeclareExchange)
            {
                try
                {
                    await channel.ExchangeDeclareAsync(_options.Exchange, _options.ExchangeType, durable: true, autoDelete: false, arguments: null, cancellationToken: cancellationToken).ConfigureAwait(false);
                }
                catch (OperationInterruptedException e) when (e.ShutdownReason is { Initiator: ShutdownInitiator.Peer, ReplyCode: Constants.AccessRefused or Constants.PreconditionFailed } refused)
                {
                    // The client's text does not name the sink or say what to do.
                    LogClientError(_logger, e, Name);
                    throw DeclareRefused(refused);
                }
            }

            _channel = channel;
            _confirms = channelConfirms;
            return (channel, channelConfirms);
        }
        finally
        {
            _connectLock.Release();
        }
    }

    /// <summary>
    /// The broker's refusal of the sink's exchange declare, in one line naming the setting to change: 403 ACCESS_REFUSED, the user
    /// lacks configure permission on it; 406 PRECONDITION_FAILED, it exists declared otherwise (another type, not durable, with
    /// arguments) than the sink declares it. Either is the same on every attempt until the broker's owner or the configuration changes it.
    /// </summary>
    private DeclareRefusedException DeclareRefused(ShutdownEventArgs refused)
    {
        var (exchange, vhost, type) = (_options.Exchange, _factory.VirtualHost, _options.ExchangeType);
        if (refused.ReplyCode == Constants.AccessRefused)
        {
            return new DeclareRefusedException("declareExchange",
                $"rabbitmq sink '{Name}': RabbitMQ at {_endpoint} refuses user '{_factory.UserName}' declaring exchange '{exchange}' in vhost '{vhost}' ({refused.ReplyText}): "
                + $"set declareExchange: false if the broker's owner declares it (durable, type {type}), or allow it: {PermissionCommand(configure: true)}");
        }

        // RabbitMQ: "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'x' in vhost '/': received 'topic' but current is 'fanout'".
        var differs = InequivalentArg().Match(refused.ReplyText);
        var delete = $"have the broker's owner delete it (rabbitmqadmin or the management UI; its bindings go with it) for the sink to declare it (durable, type {type}). "
            + $"rabbitmqctl list_exchanges -p '{vhost}' name type durable auto_delete arguments shows it";
        if (!differs.Success)
        {
            return new DeclareRefusedException("declareExchange",
                $"rabbitmq sink '{Name}': RabbitMQ at {_endpoint} refuses declaring exchange '{exchange}' in vhost '{vhost}' as the sink does, durable and of type {type} ({refused.ReplyText}): "
                + $"set declareExchange: false to publish to it as it is, or {delete}");
        }

        var (arg, received, current) = (differs.Groups["arg"].Value, Unquoted(differs.Groups["received"].Value), Unquoted(differs.Groups["current"].Value));
        var code = string.Create(CultureInfo.InvariantCulture, $"RabbitMQ at {_endpoint}: {refused.ReplyCode} PRECONDITION_FAILED, inequivalent arg '{arg}'");
        return arg == "type"
            ? new DeclareRefusedException("exchangeType",
                $"rabbitmq sink '{Name}': exchange '{exchange}' in vhost '{vhost}' exists as type {current}, but exchangeType is {type} ({code}): "
                + $"set exchangeType: {current} to publish to it as it is, or {delete}")
            : new DeclareRefusedException("declareExchange",
                $"rabbitmq sink '{Name}': exchange '{exchange}' in vhost '{vhost}' exists with {arg} {current}, but the sink declares it with {arg} {received} ({code}): "
                + $"set declareExchange: false to publish to it as it is, or {delete}");

        static string Unquoted(string value) => value.Length >= 2 && value[0] == '\'' && value[^1] == '\'' ? value[1..^1] : value;
    }

    [System.Text.RegularExpressions.GeneratedRegex("inequivalent arg '(?<arg>[^']+)' for exchange .* in vhost .*: received (?<received>.+) but current is (?<current>.+)$")]
    private static partial System.Text.RegularExpressions.Regex InequivalentArg();

    /// <summary>
    /// A declare of the exchange the broker refuses, retried like any failed delivery (the broker's owner may change it meanwhile);
    /// <see cref="Key"/>: the sink's setting that would make it go. Without the client's exception as its cause, which the runner
    /// would add to the line (it is logged at debug level).
    /// </summary>
    private sealed class DeclareRefusedException(string key, string text) : IOException(text + ". " + UntilFixed)
    {
        public string Key { get; } = key;

        /// <summary>The refusal and what to do, without the retries' "until then".</summary>
        public string Text { get; } = text;
    }

    private static string Redacted(Uri uri) => new UriBuilder(uri) { UserName = "", Password = "" }.Uri.ToString();

    private const string UntilFixed = "Each retry fails the same way until then";

    /// <summary>
    /// Opens the connection, or fails in one line naming the sink, the endpoint (never the password), the user and vhost, what
    /// happened and what to do, instead of RabbitMQ.Client's "None of the specified endpoints were reachable" or bare AMQP close
    /// reason. A server that accepts the connection and never answers as RabbitMQ (another server on that port) would hold the
    /// handshake for ever: it and the first channel are given <see cref="ConnectTimeout"/>.
    /// </summary>
    private async Task<IChannel> ConnectAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ConnectTimeout);
        try
        {
            _connection = await _factory.CreateConnectionAsync(timeout.Token).ConfigureAwait(false);

            // Confirms without RabbitMQ.Client's tracking, which would add its x-dotnet-pub-seq-no header to every message.
            // RabbitMQ refuses a vhost (530 NOT_ALLOWED) by closing the connection, which the first channel's open meets.
            return await _connection.CreateChannelAsync(
                new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: false),
                timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is BrokerUnreachableException or OperationInterruptedException || e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            LogClientError(_logger, e, Name);
            var (what, refused) = ConnectFailure(e);
            throw new IOException($"rabbitmq sink '{Name}': cannot connect to RabbitMQ at {_endpoint} as user '{_factory.UserName}': {what}.{(refused ? " " + UntilFixed : "")}");
        }
    }

    /// <summary>What a failed connection attempt means, and what to do about it; refused: RabbitMQ (or TLS) said no, which no retry changes by itself.</summary>
    private (string What, bool Refused) ConnectFailure(Exception e)
    {
        var vhost = _factory.VirtualHost;
        if (e is OperationCanceledException)
        {
            return (string.Create(CultureInfo.InvariantCulture, $"no AMQP handshake within {ConnectTimeout.TotalSeconds:0.#} s (connectTimeout): something there accepts the connection but does not answer as RabbitMQ (another server on that port, a TLS port with amqp://, a firewall). ")
                + "Check the host, port and scheme in the uri (RabbitMQ listens on 5672 for amqp://, 5671 for amqps://)", false);
        }

        if (e is OperationInterruptedException { ShutdownReason: { Initiator: ShutdownInitiator.Peer } closed })
        {
            // RabbitMQ closes the connection with 530 NOT_ALLOWED for a vhost that is not there or one the user may not use.
            return (closed.ReplyCode != Constants.NotAllowed
                ? string.Create(CultureInfo.InvariantCulture, $"RabbitMQ closed the connection ({closed.ReplyCode} {closed.ReplyText}). Its log says why")
                : closed.ReplyText.Contains("not found", StringComparison.Ordinal)
                ? $"vhost '{vhost}' does not exist ({closed.ReplyText}). Create it (rabbitmqctl add_vhost '{vhost}') or name another in the uri's path (amqp://host:5672/VHOST; %2F for '/')"
                : $"the user may not use vhost '{vhost}' ({closed.ReplyText}). Allow it: {PermissionCommand(_options.DeclareExchange)}", closed.ReplyCode == Constants.NotAllowed);
        }

        Exception? root = e;
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            root = inner is AggregateException { InnerExceptions.Count: 1 } one ? one.InnerExceptions[0] : inner;
            if (root is AuthenticationFailureException or System.Security.Authentication.AuthenticationException or SocketException or IOException)
            {
                break;
            }
        }

        var secure = _factory.Ssl.Enabled;
        var what = root switch
        {
            AuthenticationFailureException refused =>
                $"RabbitMQ refused the login ({FirstSentence(refused.Message)}): the password in the uri is wrong, or there is no such user. "
                + $"Check the uri's user and password (rabbitmqctl authenticate_user '{_factory.UserName}' PASSWORD tells which)",
            System.Security.Authentication.AuthenticationException tls =>
                $"the TLS handshake failed ({FirstSentence(tls.Message)}). "
                + (secure ? "amqps:// needs RabbitMQ's TLS listener (port 5671 by default); for its plain port (5672) use amqp://" : "Check the broker's TLS listener and certificate"),
            SocketException { SocketErrorCode: SocketError.ConnectionRefused } =>
                "connection refused: nothing listens there. Check that RabbitMQ runs and the host and port in the uri",
            SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData } socket =>
                $"the host name does not resolve ({socket.Message}). Check the host in the uri",
            SocketException socket =>
                $"{socket.Message}. Check that RabbitMQ runs, the host and port in the uri, and the network (firewall) to it",
            IOException io when !secure =>
                $"the server there did not answer as RabbitMQ ({FirstSentence(io.Message)}). "
                + "Check the port (RabbitMQ listens on 5672 for amqp://) and the scheme (a TLS listener needs amqps://)",
            _ => $"{FirstSentence(root?.Message ?? e.Message)}. Check that RabbitMQ runs, and the host, port and scheme in the uri",
        };
        return (what, root is AuthenticationFailureException or System.Security.Authentication.AuthenticationException);
    }

    /// <summary>
    /// The rabbitmqctl command that gives the sink's user what it needs on its exchange in its vhost: write to publish, and
    /// configure to declare it. set_permissions replaces all three of the user's permissions in the vhost, so the command says to keep the others.
    /// </summary>
    private string PermissionCommand(bool configure)
    {
        var exchange = "^" + RegexEscaped(_options.Exchange) + "$";
        return $"rabbitmqctl set_permissions -p '{_factory.VirtualHost}' '{_factory.UserName}' '{(configure ? exchange : "")}' '{exchange}' '' "
            + $"(it replaces the user's patterns in that vhost: merge with rabbitmqctl list_user_permissions '{_factory.UserName}')";
    }

    private static string RegexEscaped(string value)
    {
        var escaped = new StringBuilder(value.Length + 4);
        foreach (var c in value)
        {
            if (".^$*+?()[]{}|\\".Contains(c, StringComparison.Ordinal))
            {
                escaped.Append('\\');
            }

            escaped.Append(c);
        }

        return escaped.ToString();
    }

    /// <summary>A client or broker text up to its first sentence's end (". For details see the broker logfile." and on left out), at most 200 characters.</summary>
    private static string FirstSentence(string message)
    {
        var end = message.IndexOf(". ", StringComparison.Ordinal);
        var text = (end < 0 ? message : message[..end]).TrimEnd('.');
        return text.Length <= 200 ? text : string.Concat(text.AsSpan(0, 200), "…");
    }

    private async Task ResetAsync()
    {
        var channel = _channel;
        var connection = _connection;
        _channel = null;
        _confirms = null;
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

    [LoggerMessage(EventId = 4507, Level = LogLevel.Warning, Message = "RabbitMQ sink {Sink} is not ready at start: {Reason}. The pipeline starts all the same; each delivery to the sink tries again (its retry policy applies)")]
    private static partial void LogNotReadyAtStart(ILogger logger, string sink, string reason);

    [LoggerMessage(EventId = 4516, Level = LogLevel.Debug, Message = "RabbitMQ sink {Sink}: RabbitMQ.Client's own exception for the failure, for a report")]
    private static partial void LogClientError(ILogger logger, Exception error, string sink);

    [LoggerMessage(EventId = 4400, Level = LogLevel.Warning, Message = "RabbitMQ sink {Sink} published event {EventId} ({Type}) to exchange {Exchange} with routing key {RoutingKey}, and the broker routed it to no queue ({ReplyCode} {ReplyText}): "
        + "nobody will receive it, and RabbitMQ keeps nothing for queues bound later. Every such event is counted in cdc.events.unreceived; this warning repeats at most every {Interval} per routing key. "
        + "Declare a durable queue and bind it to the exchange for this routing key before events are published (or give the exchange an alternate-exchange)")]
    private static partial void LogUnreceived(ILogger logger, string sink, string eventId, string type, string exchange, string routingKey, ushort replyCode, string replyText, TimeSpan interval);
}
