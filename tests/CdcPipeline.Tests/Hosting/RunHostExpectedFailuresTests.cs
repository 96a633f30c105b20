using CdcPipeline.Commands;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Pipeline;
using CdcPipeline.Core.Sinks;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client.Exceptions;
using StackExchange.Redis;

namespace CdcPipeline.Tests.Hosting;

/// <summary>
/// The host <c>run</c> builds hands the runner every library's expected failures (read from its services, as
/// <see cref="PipelineBuilder"/> does): a sink client's refusal is logged in one line there, not only in a test's container.
/// </summary>
public sealed class RunHostExpectedFailuresTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-runhost-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Run_host_classifies_Redis_RabbitMQ_and_Kafka_client_failures_as_expected()
    {
        var path = Path.Combine(_dir, "pipeline.yaml");
        File.WriteAllText(path, """
            name: runhost
            source:
              postgres:
                connectionString: "Host=127.0.0.1;Port=1;Username=cdc;Database=legacy"
                publication: cdc_pub
                slot: cdc_slot
                tables: [public.orders]
            sinks:
              - name: screen
                console: {}
            """);
        using var host = RunCommand.CreateHostBuilder(PipelineConfiguration.Load(path), new RunCommand.LogSettings(Json: true, LogLevel.Information)).Build();
        var libraries = host.Services.GetServices<IExpectedDeliveryFailures>().ToArray();

        Assert.True(DeliveryFailures.IsExpected(new RedisConnectionException(ConnectionFailureType.UnableToConnect, CommandFlags.None, "It was not possible to connect to the redis server(s)", null, CommandStatus.Unknown), libraries));
        Assert.True(DeliveryFailures.IsExpected(new OperationInterruptedException(), libraries));
        Assert.True(DeliveryFailures.IsExpected(new KafkaException(new Error(ErrorCode.Local_Fail, "delivery failed")), libraries));
        Assert.False(DeliveryFailures.IsExpected(new NullReferenceException(), libraries));
    }
}
