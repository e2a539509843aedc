using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Uncertainty.Api.Security;

/// <summary>
/// X-Api-Key checks. Keys are compared as SHA-256 digests with <see cref="CryptographicOperations.FixedTimeEquals"/>,
/// so neither the content nor the length of a key leaks through timing.
/// </summary>
public sealed class ApiKeys(IOptions<UncertaintyOptions> options)
{
    public const string Header = "X-Api-Key";

    private readonly byte[][] digests = [.. options.Value.ConfiguredApiKeys.Select(key => SHA256.HashData(Encoding.UTF8.GetBytes(key)))];

    public bool Configured => digests.Length > 0;

    public bool Accepts(string presented)
    {
        var digest = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        var accepted = false;
        foreach (var known in digests)
        {
            accepted |= CryptographicOperations.FixedTimeEquals(digest, known); // no early exit
        }

        return accepted;
    }
}

public static class ApiKeyEndpoints
{
    /// <summary>Endpoints that change state: a key is needed whenever keys are configured.</summary>
    public static TBuilder RequireApiKey<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(static (context, next) => Check(context, next, inference: false));

    /// <summary>Predictions and evaluation: a key is needed when RequireApiKeyForInference is set.</summary>
    public static TBuilder RequireApiKeyForInference<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(static (context, next) => Check(context, next, inference: true));

    private static ValueTask<object?> Check(EndpointFilterInvocationContext context, EndpointFilterDelegate next, bool inference)
    {
        var services = context.HttpContext.RequestServices;
        var keys = services.GetRequiredService<ApiKeys>();
        if (!keys.Configured || (inference && !services.GetRequiredService<IOptions<UncertaintyOptions>>().Value.RequireApiKeyForInference))
        {
            return next(context);
        }

        if (!context.HttpContext.Request.Headers.TryGetValue(ApiKeys.Header, out var presented) || string.IsNullOrEmpty(presented))
        {
            context.HttpContext.Response.Headers.WWWAuthenticate = ApiKeys.Header;
            return ValueTask.FromResult<object?>(TypedResults.Problem($"This endpoint needs an API key in the {ApiKeys.Header} header.", statusCode: StatusCodes.Status401Unauthorized, title: "API key required"));
        }

        return keys.Accepts(presented.ToString())
            ? next(context)
            : ValueTask.FromResult<object?>(TypedResults.Problem($"The {ApiKeys.Header} header does not hold a valid key.", statusCode: StatusCodes.Status403Forbidden, title: "API key not accepted"));
    }
}
