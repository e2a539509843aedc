using System.Collections.Concurrent;

namespace Uncertainty.Api.Observability;

/// <summary>
/// The application's logger factory, with its loggers kept by category as Microsoft.Extensions.Logging's own factory keeps
/// them. Serilog's factory builds a new logger (and its event-id cache) on every CreateLogger, and ASP.NET Core calls it per
/// request: for each authentication handler (made per request) and each typed result it writes. Same categories, same events.
/// </summary>
public sealed class CachedLoggerFactory(ILoggerFactory inner) : ILoggerFactory
{
    private readonly ConcurrentDictionary<string, ILogger> loggers = new(StringComparer.Ordinal);

    /// <summary>Wraps the last registered <see cref="ILoggerFactory"/> (Serilog's, made by a factory); any other registration is left as it is.</summary>
    public static void Register(IServiceCollection services)
    {
        if (services.LastOrDefault(d => d.ServiceType == typeof(ILoggerFactory)) is { ImplementationFactory: { } make })
        {
            // Disposing the cache disposes the factory it wraps: the container only tracks what it made, the wrapper.
            services.AddSingleton<ILoggerFactory>(provider => new CachedLoggerFactory((ILoggerFactory)make(provider)));
        }
    }

    public ILogger CreateLogger(string categoryName) => loggers.GetOrAdd(categoryName, inner.CreateLogger);

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose() => inner.Dispose();
}
