using System.Reflection;
using Confluent.SchemaRegistry;

namespace CdcPipeline.IntegrationTests.Kafka;

/// <summary>
/// A Schema Registry client that answers through another one, except where <c>fault</c> returns an exception for a
/// call (an unreachable registry, a refused registration): the call's task fails with it.
/// </summary>
public class FaultySchemaRegistry : DispatchProxy
{
    private ISchemaRegistryClient _inner = null!;
    private Func<MethodInfo, object?[]?, Exception?> _fault = null!;

    public static ISchemaRegistryClient Wrap(ISchemaRegistryClient inner, Func<MethodInfo, object?[]?, Exception?> fault)
    {
        var proxy = Create<ISchemaRegistryClient, FaultySchemaRegistry>();
        var self = (FaultySchemaRegistry)(object)proxy;
        self._inner = inner;
        self._fault = fault;
        return proxy;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        if (_fault(targetMethod, args) is { } error && targetMethod.ReturnType.IsGenericType
            && targetMethod.ReturnType.GetGenericTypeDefinition() == typeof(Task<>))
        {
            var fromException = typeof(Task).GetMethod(nameof(Task.FromException), 1, [typeof(Exception)])!
                .MakeGenericMethod(targetMethod.ReturnType.GetGenericArguments()[0]);
            return fromException.Invoke(null, [error]);
        }

        return targetMethod.Invoke(_inner, args);
    }
}
