using CdcPipeline.Core.Sinks;
using CdcPipeline.Kafka;
using CdcPipeline.Sinks;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client.Exceptions;
using StackExchange.Redis;

namespace CdcPipeline.Tests.Sinks;

/// <summary>What the sink libraries register as a remote refusal (logged without a stack trace) and what stays a bug.</summary>
public sealed class ExpectedDeliveryFailuresTests
{
    private static bool IsExpected(Exception error)
    {
        using var services = new ServiceCollection().AddCdcSinks().AddCdcKafka().BuildServiceProvider();
        return services.GetServices<IExpectedDeliveryFailures>().Any(f => f.IsExpected(error));
    }

    [Fact]
    public void Redis_RabbitMQ_and_Kafka_refusals_are_expected()
    {
        Assert.True(IsExpected(new RedisConnectionException(ConnectionFailureType.UnableToConnect, CommandFlags.None, "It was not possible to connect to the redis server(s)", null, CommandStatus.Unknown)));
        Assert.True(IsExpected(new RedisServerException(RedisErrorKind.Unknown, CommandFlags.None, "NOPERM this user has no permissions to run the 'xadd' command")));
        Assert.True(IsExpected(new OperationInterruptedException()));
        Assert.True(IsExpected(new KafkaException(new Error(ErrorCode.Local_Fail, "delivery failed"))));
    }

    [Fact]
    public void A_bug_is_not_expected()
    {
        Assert.False(IsExpected(new NullReferenceException()));
        Assert.False(IsExpected(new InvalidOperationException("sink 'k' is transactional but the exactly-once Kafka source has not started")));
        Assert.False(IsExpected(new RedisCommandException("Command cannot be issued to a replica: XADD")));
        Assert.False(IsExpected(new KafkaException(new Error(ErrorCode.Local_InvalidArg, "invalid argument"))));
    }
}
