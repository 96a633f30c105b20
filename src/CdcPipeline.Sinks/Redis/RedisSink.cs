using CdcPipeline.Core.Json;
using CdcPipeline.Core.Sinks;
using CdcPipeline.Core.Translation;
using CdcPipeline.Sinks.Routing;
using StackExchange.Redis;

namespace CdcPipeline.Sinks.Redis;

/// <summary>
/// Stream mode: one XADD per event (fields <c>id</c>, <c>type</c>, <c>subject</c>, <c>body</c> = the
/// event JSON), pipelined on one connection so Redis applies them in order, and the batch counts as
/// delivered once every reply is in. A retried batch appends again (streams do not de-duplicate):
/// consumers de-duplicate by the <c>id</c> field. Pub/Sub mode: PUBLISH the event JSON — no delivery
/// guarantee at all (see <see cref="RedisMode.PubSub"/>).
/// </summary>
public sealed class RedisSink : ISink
{
    private readonly RedisSinkOptions _options;
    private readonly EventTemplate _target;
    private readonly ConfigurationOptions _configuration;
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private ConnectionMultiplexer? _redis;

    public RedisSink(string name, RedisSinkOptions options, EventTemplate target)
    {
        Name = name;
        _options = options;
        _target = target;
        _configuration = ConfigurationOptions.Parse(options.Configuration);

        // Fail a command fast while Redis is away (the runner's policy retries with backoff) rather
        // than queueing it inside the multiplexer where nobody sees it.
        _configuration.AbortOnConnectFail = false;
        _configuration.BacklogPolicy = BacklogPolicy.FailFast;
        _configuration.ClientName ??= "cdcpipeline-" + name;
    }

    public string Name { get; }

    public async ValueTask DeliverAsync(IReadOnlyList<DomainEvent> batch, CancellationToken cancellationToken)
    {
        // Every key first: an event the template gives no key must not leave the events before it sent.
        var keys = new string[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            keys[i] = RenderKey(batch[i]);
        }

        var redis = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        var db = redis.GetDatabase();
        if (_options.Mode != RedisMode.Stream)
        {
            var published = new Task[batch.Count];
            for (var i = 0; i < batch.Count; i++)
            {
                published[i] = db.PublishAsync(RedisChannel.Literal(keys[i]), EventJson.SerializeToUtf8(batch[i]));
            }

            await Task.WhenAll(published).WaitAsync(cancellationToken).ConfigureAwait(false);
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
                [new("id", e.Id), new("type", e.Type), new("subject", e.Subject ?? ""), new("body", EventJson.SerializeToUtf8(e))],
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
            throw new RedisException($"Redis did not execute the transaction of {batch.Count} XADD(s); the batch is retried whole");
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

    private async ValueTask<ConnectionMultiplexer> ConnectAsync(CancellationToken cancellationToken)
    {
        if (_redis is { } connected)
        {
            return connected;
        }

        await _connectLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // With AbortOnConnectFail off this returns even while Redis is down and reconnects by itself.
            return _redis ??= await ConnectionMultiplexer.ConnectAsync(_configuration).ConfigureAwait(false);
        }
        finally
        {
            _connectLock.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync().ConfigureAwait(false);
        }

        _connectLock.Dispose();
    }
}
