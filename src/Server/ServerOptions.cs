namespace LongLM.Server;

/// <summary>Settings of a <see cref="LongLMServer"/> (the flags of `longlm serve`).</summary>
public sealed record ServerOptions
{
    /// <summary>Address to listen on; loopback by default (expose it deliberately).</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>TCP port; 0 picks a free one (see <see cref="LongLMServer.BaseAddress"/>).</summary>
    public int Port { get; init; } = 8080;
    /// <summary>Slots: independent sessions generating at once.</summary>
    public int Parallel { get; init; } = 1;
    /// <summary>Requests that may wait for a slot; one more is refused with 503 and Retry-After.</summary>
    public int Queue { get; init; } = 16;
    /// <summary>When set, every /v1 request needs "Authorization: Bearer KEY" (401 otherwise).</summary>
    public string? ApiKey { get; init; }
    /// <summary>Largest request body accepted (413 beyond).</summary>
    public long MaxBodyBytes { get; init; } = 8 << 20;
    /// <summary>The model id in /v1/models and in responses; requests naming another model get 404. Default: the folder name.</summary>
    public string? ModelName { get; init; }
    /// <summary>A Jinja chat template for a model without one.</summary>
    public string? ChatTemplate { get; init; }

    /// <summary>Checks every value; throws a <see cref="Runtime.LongLMException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (Port is < 0 or > 65535) throw new Runtime.LongLMException($"--port must lie in [0, 65535], got {Port}");
        if (Parallel is < 1 or > 256) throw new Runtime.LongLMException($"--parallel must lie in [1, 256], got {Parallel}");
        if (Queue is < 0 or > 100_000) throw new Runtime.LongLMException($"--queue must lie in [0, 100000], got {Queue}");
        if (MaxBodyBytes is < 1024 or > 1L << 30) throw new Runtime.LongLMException($"the body limit must lie in [1 KiB, 1 GiB], got {MaxBodyBytes}");
        if (ApiKey is { Length: 0 }) throw new Runtime.LongLMException("--api-key must not be empty");
    }
}
