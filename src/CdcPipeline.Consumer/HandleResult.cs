namespace CdcPipeline.Consumer;

/// <summary>What <see cref="IdempotentConsumer.HandleAsync(ConsumedEvent, ConsumedEventHandler, CancellationToken)"/> did with an event.</summary>
public enum HandleResult
{
    /// <summary>The handler ran and its writes committed together with the processed mark.</summary>
    Applied,

    /// <summary>This consumer had already processed the event (or a concurrent delivery did): nothing ran.</summary>
    Duplicate,
}
