using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using Uncertainty.Api.Problems;

namespace Uncertainty.Api.Security;

/// <summary>What a key may do: administration (training, import, default version, delete) or inference only.</summary>
public enum KeyScope
{
    None,
    Inference,
    Admin,
}

/// <summary>
/// X-Api-Key checks. Keys are compared as SHA-256 digests with <see cref="CryptographicOperations.FixedTimeEquals"/>
/// over every configured key, so neither the content nor the length of a key leaks through timing.
/// </summary>
public sealed class ApiKeys(IOptions<UncertaintyOptions> options)
{
    public const string Header = "X-Api-Key";

    private readonly byte[][] admin = Digests(options.Value.ConfiguredApiKeys);
    private readonly byte[][] inference = Digests(options.Value.ConfiguredInferenceApiKeys);

    public bool Configured => admin.Length + inference.Length > 0;

    /// <summary>The scope <paramref name="presented"/> grants; <see cref="KeyScope.None"/> for an unknown key.</summary>
    public KeyScope ScopeOf(string presented)
    {
        var digest = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        bool isAdmin = Matches(digest, admin);
        bool isInference = Matches(digest, inference);
        return isAdmin ? KeyScope.Admin : isInference ? KeyScope.Inference : KeyScope.None;
    }

    public bool Accepts(string presented) => ScopeOf(presented) != KeyScope.None;

    private static bool Matches(byte[] digest, byte[][] known)
    {
        var accepted = false;
        foreach (var key in known)
        {
            accepted |= CryptographicOperations.FixedTimeEquals(digest, key); // no early exit
        }

        return accepted;
    }

    private static byte[][] Digests(IEnumerable<string> keys) => [.. keys.Select(key => SHA256.HashData(Encoding.UTF8.GetBytes(key)))];
}

/// <summary>
/// ASP.NET Core authentication for the X-Api-Key header: an accepted key signs the request in with its scope
/// claims; no key leaves it anonymous; an unknown key fails. Authorization policies decide what each endpoint needs.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ApiKeys keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string ScopeClaim = "scope";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Headers.TryGetValue(ApiKeys.Header, out var presented) || string.IsNullOrEmpty(presented))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var scope = keys.ScopeOf(presented.ToString());
        if (scope == KeyScope.None)
        {
            return Task.FromResult(AuthenticateResult.Fail("The key is not accepted."));
        }

        Claim[] claims = scope == KeyScope.Admin
            ? [new(ScopeClaim, ApiKeyPolicies.Admin), new(ScopeClaim, ApiKeyPolicies.Inference)]
            : [new(ScopeClaim, ApiKeyPolicies.Inference)];
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName)));
    }

    /// <summary>401 without a key; 403 with a key that is not accepted (as before scopes existed).</summary>
    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        if (Request.Headers.ContainsKey(ApiKeys.Header))
        {
            return HandleForbiddenAsync(properties);
        }

        Response.Headers.WWWAuthenticate = ApiKeys.Header;
        return ProblemMap.WriteAsync(Context, new ProblemMap.Problem(StatusCodes.Status401Unauthorized, "API key required", $"This endpoint needs an API key in the {ApiKeys.Header} header."));
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        var detail = Context.User.HasClaim(ScopeClaim, ApiKeyPolicies.Inference)
            ? "This key may predict and evaluate but not administer; use an administration key."
            : $"The {ApiKeys.Header} header does not hold a valid key.";
        return ProblemMap.WriteAsync(Context, new ProblemMap.Problem(StatusCodes.Status403Forbidden, "API key not accepted", detail));
    }
}

/// <summary>One authorization policy per scope; with no keys configured (or inference left open) a policy lets everyone through.</summary>
public static class ApiKeyPolicies
{
    public const string Admin = "admin";
    public const string Inference = "inference";
    public const string Evaluation = "evaluation";

    public static IServiceCollection AddApiKeyAuthorization(this IServiceCollection services)
    {
        services.AddSingleton<ApiKeys>();
        services.AddHostedService<ApiKeyWarning>();
        services.AddSingleton<IAuthorizationHandler, ScopeHandler>();
        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorizationBuilder()
            .AddPolicy(Admin, policy => policy.AddRequirements(new ScopeRequirement(Admin, settings => settings.KeysConfigured)))
            .AddPolicy(Inference, policy => policy.AddRequirements(new ScopeRequirement(Inference, settings => settings.KeysConfigured && settings.RequireApiKeyForInference)))
            .AddPolicy(Evaluation, policy => policy.AddRequirements(new ScopeRequirement(Inference, settings => settings.KeysConfigured))); // heavy work: keyed whenever keys exist
        return services;
    }

    /// <summary>A scope claim, needed only when <see cref="Needed"/> says so for the service's settings.</summary>
    private sealed record ScopeRequirement(string Scope, Func<UncertaintyOptions, bool> Needed) : IAuthorizationRequirement;

    private sealed class ScopeHandler(IOptions<UncertaintyOptions> options) : AuthorizationHandler<ScopeRequirement>
    {
        protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, ScopeRequirement requirement)
        {
            if (!requirement.Needed(options.Value) || context.User.HasClaim(ApiKeyAuthenticationHandler.ScopeClaim, requirement.Scope))
            {
                context.Succeed(requirement);
            }

            return Task.CompletedTask;
        }
    }

    /// <summary>Endpoints that change state.</summary>
    public static TBuilder RequireAdminScope<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder => builder.RequireAuthorization(Admin);

    /// <summary>Predictions.</summary>
    public static TBuilder RequireInferenceScope<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder => builder.RequireAuthorization(Inference);

    /// <summary>Evaluation.</summary>
    public static TBuilder RequireEvaluationScope<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder => builder.RequireAuthorization(Evaluation);
}

/// <summary>Says at start when anyone may administer the service.</summary>
public sealed partial class ApiKeyWarning(IOptions<UncertaintyOptions> options, ILogger<ApiKeyWarning> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.ConfiguredApiKeys.Any())
        {
            Log.NoApiKeys(logger);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static partial class Log
    {
        [LoggerMessage(EventId = 2006, Level = LogLevel.Warning, Message = "No API keys are configured (Uncertainty:ApiKeys): training, import and model changes are open to every client")]
        public static partial void NoApiKeys(ILogger logger);
    }
}
