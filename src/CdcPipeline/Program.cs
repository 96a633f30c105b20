using CdcPipeline.Commands;

return await CommandLineApp.InvokeAsync(args).ConfigureAwait(false);
