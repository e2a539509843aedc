using Microsoft.Extensions.Options;
using Uncertainty.Api.Problems;

namespace Uncertainty.Api.Models;

/// <summary>
/// Endpoints that write the model store. A replica started with <see cref="UncertaintyOptions.ReadOnlyStore"/>
/// (an inference replica sharing a store with one writer) refuses them with 403, naming where writes go.
/// </summary>
public static class StoreWrites
{
    public static TBuilder WritesToStore<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(static (context, next) =>
            context.HttpContext.RequestServices.GetRequiredService<IOptions<UncertaintyOptions>>().Value.ReadOnlyStore
                ? throw new ForbiddenException("Read-only replica", "This replica only reads the model store (Uncertainty:ReadOnlyStore); send training, imports and version changes to the writer.")
                : next(context));
}
