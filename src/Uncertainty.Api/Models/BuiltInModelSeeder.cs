using Microsoft.Extensions.Options;
using Uncertainty.Api.Hosting;
using Uncertainty.Api.Inference;
using Uncertainty.Model.Packaging;

namespace Uncertainty.Api.Models;

/// <summary>The built-in models a fresh store gets, and how each is made (<see cref="DefaultModels"/>; tests swap it).</summary>
public sealed record BuiltInModels(IReadOnlyList<string> Names, Func<string, ModelPackage> Create)
{
    public static readonly BuiltInModels Default = new(DefaultModels.Names, DefaultModels.Train);
}

/// <summary>
/// Start-up of the model store, in the background while the server already answers probes: a writer clears
/// what a crash left and trains each built-in model the store lacks (a few seconds); a read-only replica waits
/// until the writer has saved the default model. Then every model's default version is loaded once, so a
/// broken one is reported at start (and never stops the others), and the service is marked started.
/// </summary>
public sealed partial class BuiltInModelSeeder(
    IOptions<UncertaintyOptions> options,
    ModelStore store,
    ModelRegistry registry,
    ServiceState state,
    BuiltInModels builtIns,
    ILogger<BuiltInModelSeeder> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield(); // let the host finish starting
        var settings = options.Value;
        if (settings.ReadOnlyStore)
        {
            await WaitForDefaultModelAsync(settings.DefaultModel, stoppingToken);
        }
        else
        {
            var repair = store.Repair();
            foreach (var removed in repair.Removed)
            {
                Log.RemovedLeftover(logger, removed);
            }

            foreach (var pointed in repair.Pointed)
            {
                Log.PointedDefault(logger, pointed);
            }

            foreach (var name in builtIns.Names.Where(name => !store.Exists(name)))
            {
                ModelPackage trained;
                try
                {
                    trained = await Task.Factory.StartNew(() => builtIns.Create(name), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // One built-in that cannot be made (a shipped package missing or corrupt) must not keep the others from serving.
                    Log.BuiltInFailed(logger, name, e);
                    continue;
                }

                using (trained)
                {
                    var (version, _) = await registry.AddVersionAsync(name, trained, makeDefault: true, replaceSchema: false, stoppingToken);
                    Log.CreatedBuiltIn(logger, name, version);
                }
            }
        }

        foreach (var failed in await registry.WarmUpAsync(stoppingToken))
        {
            Log.ModelBroken(logger, failed.Name, failed.DefaultVersion ?? 0, failed.Error ?? "unknown");
        }

        state.MarkStarted();
        Log.Started(logger);
    }

    private async Task WaitForDefaultModelAsync(string name, CancellationToken stoppingToken)
    {
        while (!store.Exists(name) || store.DefaultVersion(name) is null)
        {
            Log.WaitingForDefault(logger, name);
            await Task.Delay(TimeSpan.FromSeconds(2), stoppingToken);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Store had no '{Model}' model: trained the built-in one as version {Version}")]
        public static partial void CreatedBuiltIn(ILogger logger, string model, int version);

        [LoggerMessage(EventId = 2016, Level = LogLevel.Error, Message = "Could not make the built-in model '{Model}'; the service starts without it")]
        public static partial void BuiltInFailed(ILogger logger, string model, Exception exception);

        [LoggerMessage(EventId = 2007, Level = LogLevel.Information, Message = "Read-only replica: waiting for the writer to save model '{Model}'")]
        public static partial void WaitingForDefault(ILogger logger, string model);

        [LoggerMessage(EventId = 2012, Level = LogLevel.Warning, Message = "Removed {Path}, left in the model store by an interrupted write")]
        public static partial void RemovedLeftover(ILogger logger, string path);

        [LoggerMessage(EventId = 2013, Level = LogLevel.Information, Message = "Model store had no default-version pointer for {Pointer} (the newest version); wrote it")]
        public static partial void PointedDefault(ILogger logger, string pointer);

        [LoggerMessage(EventId = 2014, Level = LogLevel.Error, Message = "Model {Model}: its default version {Version} cannot serve ({Reason}); other models are unaffected")]
        public static partial void ModelBroken(ILogger logger, string model, int version, string reason);

        [LoggerMessage(EventId = 2015, Level = LogLevel.Information, Message = "Started: every model's default version has been tried")]
        public static partial void Started(ILogger logger);
    }
}
