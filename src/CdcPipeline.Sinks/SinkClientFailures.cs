using CdcPipeline.Core.Sinks;
using RabbitMQ.Client.Exceptions;
using StackExchange.Redis;

namespace CdcPipeline.Sinks;

/// <summary>
/// The client libraries' exceptions this project's sinks let through for a remote refusal or a lost connection, logged by
/// the runner without a stack trace. Npgsql's are ADO.NET errors (<see cref="System.Data.Common.DbException"/>) the runner
/// knows already; a webhook's are <see cref="HttpRequestException"/> or a time-out.
/// </summary>
internal sealed class SinkClientFailures : IExpectedDeliveryFailures
{
    public bool IsExpected(Exception error) => error switch
    {
        // Redis: a lost or refused connection, the server's error reply (RedisServerException), a transaction not run.
        // Not RedisCommandException: a command the client refuses to send is ours to fix.
        RedisException => true,
        // RabbitMQ: the broker closed the channel or the connection (OperationInterruptedException, AlreadyClosedException).
        // A nack is the sink's IOException (it waits for the confirms itself, without the client's PublishException).
        OperationInterruptedException => true,
        _ => false,
    };
}
