using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CdcPipeline.Core.Json;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Sinks.Routing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace CdcPipeline.Sinks.Redis;

/// <summary>
/// Stream mode: one XADD per event (fields <c>id</c>, <c>type</c>, <c>subject</c>, <c>body</c> = the
/// event JSON), pipelined on one connection so Redis applies them in order, and the batch counts as
/// delivered once every reply is in. A retried batch appends again (streams do not de-duplicate):
/// consumers de-duplicate by the <c>id</c> field. Pub/Sub mode: PUBLISH the event JSON — no delivery
/// guarantee at all (see <see cref="RedisMode.PubSub"/>).
/// Once per connection (again after a reconnect) the sink asks Redis who it is (<c>ACL WHOAMI</c>, when the configuration
/// names a user) and how long a value may be (<c>CONFIG GET proto-max-bulk-len</c>).
/// </summary>
public sealed partial class RedisSink : ISink
{
    /// <summary>Redis' default <c>proto-max-bulk-len</c> (512 MB), assumed when the server does not say.</summary>
    public const long DefaultMaxBulkLength = 512L * 1024 * 1024;

    private readonly RedisSinkOptions _options;
    private readonly EventTemplate _target;
    private readonly ConfigurationOptions _configuration;

    /// <summary>The configured endpoints, for errors (no password: that is an option, not part of an endpoint).</summary>
    private readonly string _endpoints;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private ConnectionMultiplexer? _redis;

    /// <summary>The connection's checks are done and <see cref="_maxBulkLength"/> is its server's; cleared on a reconnect.</summary>
    private volatile bool _checked;
    private long _maxBulkLength = DefaultMaxBulkLength;

    /// <summary>Pub/sub: how often, at most, the warning about events no subscriber received repeats for one channel.</summary>
    public static readonly TimeSpan UnreceivedWarningInterval = UnreceivedEvents.WarningInterval;

    /// <summary>Pub/sub: events published to a channel without subscriber, counted and rationed for the warning.</summary>
    private readonly UnreceivedEvents _unreceived;

    public RedisSink(string name, RedisSinkOptions options, EventTemplate target, ILogger<RedisSink>? logger = null, Core.Pipeline.PipelineMetrics? metrics = null, TimeProvider? timeProvider = null)
    {
        _unreceived = new UnreceivedEvents(name, metrics, timeProvider);
        Name = name;
        _options = options;
        _target = target;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _configuration = ConfigurationOptions.Parse(options.Configuration);
        _endpoints = Endpoints(_configuration);

        // Fail a command fast while Redis is away (the runner's policy retries with backoff) rather
        // than queueing it inside the multiplexer where nobody sees it.
        _configuration.AbortOnConnectFail = false;
        _configuration.BacklogPolicy = BacklogPolicy.FailFast;
        _configuration.ClientName ??= "cdcpipeline-" + name;

        // Not AllowAdmin: the delivery connection stays refused admin commands (FLUSHALL, CONFIG SET…) by StackExchange.Redis too.
        // CONFIG GET, which it counts among them (since 3.0 for Execute as well: StackExchange.Redis#3129), goes over a connection
        // of its own (ReadMaxBulkLengthAsync).
    }

    public string Name { get; }

    /// <summary>The connection events go over, once connected (for tests).</summary>
    internal IConnectionMultiplexer? Connection => _redis;

    public async ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken)
    {
        try
        {
            await DeliverBatchAsync(batch, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisConnectionException or RedisTimeoutException || e is RedisServerException && e.Message.StartsWith("NOPERM", StringComparison.Ordinal))
        {
            // StackExchange.Redis' message carries its whole diagnostic (~600 characters of connection state, thread-pool and
            // IOCP counters) and not the sink: that text became the retry warning, the dead letter's error and /healthz's last
            // error. Those get one short line instead; the diagnostic goes to the Debug log.
            LogClientDiagnostic(_logger, e, Name);
            throw Shortened(e);
        }
    }

    private async ValueTask DeliverBatchAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken)
    {
        // Every key and body first: an event that cannot be sent must not leave the events before it sent.
        var keys = new string[batch.Count];
        var bodies = new byte[batch.Count][];
        for (var i = 0; i < batch.Count; i++)
        {
            keys[i] = RenderKey(batch[i]);
            bodies[i] = EventJson.SerializeToUtf8(batch[i]);
        }

        var redis = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        var db = redis.GetDatabase();
        var maxBulkLength = _checked ? Volatile.Read(ref _maxBulkLength) : await CheckConnectionAsync(redis, db, cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < batch.Count; i++)
        {
            // The body holds the id, type and subject too, so it is the longest value of the event, but for a long key.
            if (bodies[i].Length > maxBulkLength || (keys[i].Length > maxBulkLength / 3 && System.Text.Encoding.UTF8.GetByteCount(keys[i]) > maxBulkLength))
            {
                throw TooLong(batch[i], keys[i], bodies[i].Length, maxBulkLength);
            }
        }

        if (_options.Mode != RedisMode.Stream)
        {
            var published = new Task<long>[batch.Count];
            for (var i = 0; i < batch.Count; i++)
            {
                published[i] = db.PublishAsync(RedisChannel.Literal(keys[i]), bodies[i]);
            }

            await Task.WhenAll(published).WaitAsync(cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < published.Length; i++)
            {
                // PUBLISH answers how many clients received the message. None is still delivered (nothing would change on a
                // retry; pub/sub keeps nothing, as documented), but counted and logged, so that an operator can see it.
                if (published[i].Result == 0)
                {
                    Unreceived(batch[i], keys[i]);
                }
            }

            return;
        }

        // One MULTI/EXEC per batch: pipelined XADDs could partly succeed around a reconnect (the first
        // ones failing fast while disconnected, later ones landing once connected), and the retry would
        // then append the earlier events after the later ones — out of order per key. A transaction
        // applies the whole batch or none of it, so a retry only ever repeats it in order.
        var transaction = db.CreateTransaction();
        var added = new Task[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            var e = batch[i];
            added[i] = transaction.StreamAddAsync(
                keys[i],
                [new("id", e.Id), new("type", e.Type), new("subject", e.Subject ?? ""), new("body", bodies[i])],
                maxLength: _options.MaxLength,
                useApproximateMaxLength: true);
        }

        var all = Task.WhenAll(added);
        bool committed;
        try
        {
            committed = await transaction.ExecuteAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // The queued commands fail with the transaction; observe them so they are not reported twice.
            _ = all.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            if (e is RedisServerException && e.Message.StartsWith("EXECABORT", StringComparison.Ordinal))
            {
                // Redis refused a command while queueing it and discarded the whole transaction; StackExchange.Redis keeps
                // only EXECABORT, not the refusal. Transient: the operator can grant the permission or free memory.
                var streams = string.Join("', '", keys.Distinct(StringComparer.Ordinal).Take(3));
                throw new RedisException($"redis sink '{Name}': Redis refused the transaction of {batch.Count} XADD(s) to '{streams}' before running any ({e.Message}): "
                    + "usually NOPERM, the user of the sink's configuration may not XADD to these keys (check its ACL: commands and key patterns), "
                    + "or OOM, Redis is at maxmemory. Nothing of the batch was added; it is retried", e);
            }

            throw;
        }

        if (!committed)
        {
            _ = all.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw new RedisException($"redis sink '{Name}': Redis at {_endpoints} did not execute the transaction of {batch.Count} XADD(s); the batch is retried whole");
        }

        try
        {
            await all.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (RedisServerException)
        {
            // EXEC ran, but Redis refused one of its commands at run time (WRONGTYPE: the key holds a string, a hash…)
            // while applying the others — transactions do not roll back. That event can never be added, and a retry
            // of the batch would only append the others again; the runner now sends the batch event by event, so the
            // others arrive once more (consumers de-duplicate by id) and the refused one goes to the dead letters.
            for (var i = 0; i < added.Length; i++)
            {
                if (added[i].Exception?.InnerException is RedisServerException refused)
                {
                    throw new PermanentDeliveryException(batch[i], $"redis sink '{Name}': Redis refuses XADD to '{keys[i]}' for event {batch[i].Id} ({batch[i].Type}): {refused.Message}", refused);
                }
            }

            throw;
        }
    }

    /// <summary>An event published to a channel nobody subscribes to: counted every time, logged once per channel per interval.</summary>
    private void Unreceived(DomainEvent e, string channel)
    {
        if (_unreceived.Count(channel))
        {
            LogUnreceived(_logger, Name, Shorten(channel), e.Id, e.Type, UnreceivedWarningInterval);
        }
    }

    /// <summary>
    /// The event's stream key or channel. An empty one (<c>{subject}</c> for an event without subject) is no place for it:
    /// Redis takes "" as a key, so such events would pile up unnoticed in one stream, and there is no channel "" to publish
    /// to. That event can never go where the template means, so it is a permanent failure (dead-lettered) and the rest flow.
    /// </summary>
    private string RenderKey(DomainEvent e)
    {
        var key = _target.Render(e);
        if (key.Length == 0)
        {
            var what = _options.Mode == RedisMode.Stream ? "stream" : "channel";
            throw new PermanentDeliveryException(e, $"redis sink '{Name}': the {what} template '{_target.Text}' gives event {e.Id} ({e.Type}) an empty {what} name (its placeholders are empty for it: no subject or aggregate type); give the rule a key or put a fixed prefix in '{what}'");
        }

        return key;
    }

    /// <summary>
    /// Redis answers a value longer than its <c>proto-max-bulk-len</c> with "Protocol error: invalid bulk length" and closes the
    /// connection: sent, the event would fail like an outage on every attempt (for ever with <c>maxAttempts: 0</c>) and take
    /// down everything else on the connection each time. It can never be sent, so it is a permanent failure (dead-lettered).
    /// </summary>
    private PermanentDeliveryException TooLong(DomainEvent e, string key, int bodyLength, long maxBulkLength)
    {
        var what = _options.Mode == RedisMode.Stream ? "stream" : "channel";
        var too = bodyLength > maxBulkLength ? $"its JSON is {bodyLength} bytes" : $"its {what} name is longer";
        return new PermanentDeliveryException(e, $"redis sink '{Name}': event {e.Id} ({e.Type}) for {what} '{Shorten(key)}' cannot be sent: {too} than the server's "
            + $"proto-max-bulk-len ({maxBulkLength} bytes), and Redis would close the connection on it. Raise proto-max-bulk-len on Redis "
            + "(CONFIG SET, and in redis.conf) or make the rule's data smaller, then redrive it from the dead letters");
    }

    /// <summary>
    /// A connection failure, time-out or refused permission in one line: the sink, the endpoint (never the password), what
    /// happened and what to do. Of the client's text only Redis' own reply (<c>NOAUTH …</c>, <c>NOPERM …</c>) or the socket's
    /// reason is kept. The same type, so the runner still knows it for a remote failure (<see cref="SinkClientFailures"/>).
    /// </summary>
    private Exception Shortened(Exception e)
    {
        var at = $"Redis at {_endpoints}";
        if (e is RedisTimeoutException timeout)
        {
            var command = CommandOf(timeout.Message);
            return new RedisTimeoutException(timeout.Flags, string.Create(CultureInfo.InvariantCulture, $"redis sink '{Name}': {at} did not answer {command} within {_configuration.AsyncTimeout} ms (asyncTimeout): ")
                + "the network to it may be down, or Redis is blocked or overloaded (check SLOWLOG GET and INFO on it); if it is only slow, raise asyncTimeout in the sink's configuration", timeout.Commandstatus);
        }

        if (e is RedisServerException server)
        {
            return new RedisServerException(server.Kind, server.Flags, $"redis sink '{Name}': {at} refuses the sink's user ({_configuration.User ?? "default"}) a command it needs ({FirstSentence(e.Message)}): "
                + "allow the user the sink's commands (XADD, or PUBLISH in pubsub mode) on its keys or channels in its ACL (ACL SETUSER)");
        }

        var connection = (RedisConnectionException)e;
        var failure = connection.FailureType;
        Exception? root = null;
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            root = inner;
            if (inner is RedisConnectionException { FailureType: var innerFailure })
            {
                failure = innerFailure;
            }
        }

        var what = (failure, root) switch
        {
            (ConnectionFailureType.AuthenticationFailure, _) =>
                $"Redis refused the sink's login{(_configuration.User is { } user ? $" as user {user}" : "")} ({FirstSentence(root?.Message ?? "")}). "
                + "Check password= (and user=) in the sink's configuration, and that the user is on with that password in Redis' ACL",
            (_, SocketException { SocketErrorCode: SocketError.ConnectionRefused }) =>
                "connection refused: nothing listens there. Check that Redis runs and that the sink's configuration names its host and port",
            (_, SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData } socket) =>
                $"the host name does not resolve ({socket.Message}). Check the host in the sink's configuration",
            (_, SocketException socket) =>
                $"{socket.Message}. Check that Redis runs, the host and port in the sink's configuration, and the network (firewall) to it",
            (ConnectionFailureType.UnableToConnect, _) =>
                string.Create(CultureInfo.InvariantCulture, $"no connection within connectTimeout ({_configuration.ConnectTimeout} ms). ")
                + "Check that Redis runs, the host and port in the sink's configuration, the network (firewall) to it, and ssl= (a TLS port needs ssl=true)",
            _ =>
                $"{failure}{(root is null ? "" : ": " + FirstSentence(root.Message))}. Check that the sink's configuration names a Redis server (host, port, ssl=) and that it runs",
        };

        return new RedisConnectionException(failure, connection.Flags, $"redis sink '{Name}': cannot use {at}: {what}", null, connection.CommandStatus);
    }

    /// <summary>The command a StackExchange.Redis time-out names (<c>command=EXEC, …</c>: "its EXEC"), else "a command".</summary>
    private static string CommandOf(string message)
    {
        const string Marker = "command=";
        var at = message.IndexOf(Marker, StringComparison.Ordinal);
        if (at < 0)
        {
            return "a command";
        }

        var rest = message.AsSpan(at + Marker.Length);
        var end = rest.IndexOfAny(',', ' ');
        return string.Concat("its ", end < 0 ? rest : rest[..end]);
    }

    /// <summary>Redis' reply or a cause without the client's additions: its first sentence ("NOAUTH Authentication required."), at most 160 characters.</summary>
    private static string FirstSentence(string message)
    {
        const string SimpleError = "SimpleError: ";
        var text = message.StartsWith(SimpleError, StringComparison.Ordinal) ? message[SimpleError.Length..] : message;
        var end = text.IndexOf(". ", StringComparison.Ordinal);
        text = end < 0 ? text : text[..(end + 1)];
        return text.Length <= 160 ? text : string.Concat(text.AsSpan(0, 160), "…");
    }

    /// <summary>The configured endpoints as host:port (Redis' default port where none is given), at most three.</summary>
    private static string Endpoints(ConfigurationOptions configuration)
    {
        var withPorts = configuration.Clone();
        withPorts.SetDefaultPorts();
        var names = withPorts.EndPoints.Select(e => e switch
        {
            DnsEndPoint dns => string.Create(CultureInfo.InvariantCulture, $"{dns.Host}:{dns.Port}"),
            _ => e.ToString() ?? "",
        }).ToList();
        return names.Count switch
        {
            0 => "(no endpoint)",
            <= 3 => string.Join(", ", names),
            _ => string.Join(", ", names.Take(3)) + ", …",
        };
    }

    private static string Shorten(string key) => key.Length <= 200 ? key : string.Concat(key.AsSpan(0, 200), "…");

    /// <summary>
    /// Once per connection: the user Redis took it for, and its value-length limit. A named user whose AUTH Redis refuses is not
    /// refused while Redis' default user is on and <c>nopass</c> (its out-of-the-box setting): the connection simply stays that
    /// user, and the sink would deliver with its rights. Both checks are best effort: a user not allowed <c>ACL WHOAMI</c> or
    /// <c>CONFIG GET</c>, or a managed Redis that renamed them, is warned about (once per connection) and the sink goes on (with the default limit).
    /// </summary>
    private async ValueTask<long> CheckConnectionAsync(ConnectionMultiplexer redis, IDatabase db, CancellationToken cancellationToken)
    {
        if (!string.IsNullOrEmpty(_configuration.User))
        {
            string? actual;
            try
            {
                actual = (string?)await db.ExecuteAsync("ACL", "WHOAMI").WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (RedisServerException e)
            {
                LogUserNotChecked(_logger, Name, _configuration.User, e.Message);
                actual = null;
            }

            if (actual is not null && !string.Equals(actual, _configuration.User, StringComparison.Ordinal))
            {
                // The connections already open stay that user even once the ACL or password is fixed: the next attempt reconnects.
                await ResetAsync(redis).ConfigureAwait(false);
                throw new RedisException($"redis sink '{Name}': its configuration names user={_configuration.User}, but Redis says the connection is user '{actual}': "
                    + $"Redis refused the password for '{_configuration.User}' (or there is no such user, or it is off) and kept the connection as '{actual}', "
                    + "whose password is not asked (nopass). Nothing is sent as another user: fix user= and password= in the sink's configuration, "
                    + $"or the user's ACL on Redis (ACL SETUSER {_configuration.User} on >…); retried");
            }
        }

        if (await ReadMaxBulkLengthAsync(redis, cancellationToken).ConfigureAwait(false) is not { } limit)
        {
            // Redis is not reachable: not checked, and nothing to warn about; this attempt fails on the connection (or goes
            // through once it is back), and the next one checks again.
            return Volatile.Read(ref _maxBulkLength);
        }

        Volatile.Write(ref _maxBulkLength, limit);
        _checked = true;
        return limit;
    }

    /// <summary>
    /// The server's <c>proto-max-bulk-len</c>, read with <c>CONFIG GET</c> over a short-lived connection of its own (same server, user
    /// and password) with StackExchange.Redis' admin mode on: admin mode is never on for the connection events go over. When the
    /// value cannot be read (the user's ACL lacks <c>+config|get</c>, a managed Redis renamed or removed CONFIG, that connection
    /// fails), a warning says what is not checked and Redis' default is assumed: the sink delivers on. Null when neither this
    /// connection nor the sink's own reaches Redis (it is down): that is no reason to suspect the ACL.
    /// </summary>
    private async ValueTask<long?> ReadMaxBulkLengthAsync(ConnectionMultiplexer redis, CancellationToken cancellationToken)
    {
        var configuration = _configuration.Clone();
        configuration.AllowAdmin = true;
        configuration.ClientName = _configuration.ClientName + "-check";
        try
        {
            // Not cancelled while connecting (a cancelled wait would leave it open): ConnectTimeout bounds it.
            await using var check = await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
            var reply = await check.GetDatabase().ExecuteAsync("CONFIG", "GET", "proto-max-bulk-len").WaitAsync(cancellationToken).ConfigureAwait(false);
            // [name, value] (a map in RESP3, flattened alike); empty on a Redis too old to have the setting (its limit is 512 MB)
            if ((RedisResult[]?)reply is [_, var value] && long.TryParse((string?)value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var configured) && configured > 0)
            {
                return configured;
            }
        }
        catch (RedisConnectionException) when (!redis.IsConnected)
        {
            return null;
        }
        catch (Exception e) when (e is RedisConnectionException or RedisTimeoutException)
        {
            LogClientDiagnostic(_logger, e, Name);
            LogLimitNotRead(_logger, Name, DefaultMaxBulkLength, Shortened(e).Message);
        }
        catch (RedisException e)
        {
            LogLimitNotRead(_logger, Name, DefaultMaxBulkLength, e.Message);
        }

        return DefaultMaxBulkLength;
    }

    private async ValueTask<ConnectionMultiplexer> ConnectAsync(CancellationToken cancellationToken)
    {
        if (_redis is { } connected)
        {
            return connected;
        }

        await _connectLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_redis is { } raced)
            {
                return raced;
            }

            // With AbortOnConnectFail off this returns even while Redis is down and reconnects by itself.
            var redis = await ConnectionMultiplexer.ConnectAsync(_configuration).ConfigureAwait(false);

            // A reconnected connection may be another server (a restart, a fail-over) with another limit, and authenticates anew.
            redis.ConnectionRestored += (_, _) => _checked = false;
            _checked = false;
            return _redis = redis;
        }
        finally
        {
            _connectLock.Release();
        }
    }

    private async ValueTask ResetAsync(ConnectionMultiplexer redis)
    {
        await _connectLock.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            if (ReferenceEquals(_redis, redis))
            {
                _redis = null;
                _checked = false;
            }
        }
        finally
        {
            _connectLock.Release();
        }

        await redis.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync().ConfigureAwait(false);
        }

        _connectLock.Dispose();
    }

    [LoggerMessage(EventId = 4200, Level = LogLevel.Warning, Message = "Redis sink {Sink} cannot check that Redis took its connection for user {User} (ACL WHOAMI: {Reason}); it delivers without that check. Allow the user +acl|whoami to have it")]
    private static partial void LogUserNotChecked(ILogger logger, string sink, string user, string reason);

    [LoggerMessage(EventId = 4202, Level = LogLevel.Warning, Message = "Redis sink {Sink} published event {EventId} ({Type}) to channel {Channel}, which had no subscriber: nobody received it, and pub/sub keeps nothing. "
        + "Every such event is counted in cdc.events.unreceived; this warning repeats at most every {Interval} per channel. Subscribe before events are published, or use mode: stream to keep them")]
    private static partial void LogUnreceived(ILogger logger, string sink, string channel, string eventId, string type, TimeSpan interval);

    [LoggerMessage(EventId = 4506, Level = LogLevel.Debug, Message = "Redis sink {Sink}: StackExchange.Redis' own diagnostic of the failure (connection state, thread-pool counters), for a report")]
    private static partial void LogClientDiagnostic(ILogger logger, Exception error, string sink);

    [LoggerMessage(EventId = 4201, Level = LogLevel.Warning, Message = "Redis sink {Sink} cannot read the server's proto-max-bulk-len (CONFIG GET: {Reason}), so it cannot verify that every event fits it: "
        + "it assumes Redis' default, {Limit} bytes, and delivers. An event longer than a lower server limit makes Redis close the connection, and the event is retried instead of dead-lettered. "
        + "Allow the sink's user +config|get (ACL SETUSER … +config|get) to have it checked")]
    private static partial void LogLimitNotRead(ILogger logger, string sink, long limit, string reason);
}
