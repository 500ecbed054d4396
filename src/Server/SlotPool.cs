using LongLM.Chat;
using LongLM.Models;

namespace LongLM.Server;

/// <summary>
/// N slots, each one conversation (session and KV cache) that keeps its state between requests, so a request that
/// extends a slot's previous conversation runs only its new tokens. Requests wait in a bounded queue; beyond it the
/// server answers 503.
/// </summary>
internal sealed class SlotPool : IDisposable
{
    private readonly List<ChatConversation> _free;
    private readonly SemaphoreSlim _available;
    private readonly int _queue;
    private int _waiting, _active;

    public SlotPool(LanguageModel model, ChatFormat? format, int parallel, int queue)
    {
        // A model without a chat template still serves completions and embeddings: its slots format nothing.
        var slotFormat = format ?? ChatFormat.WithTemplate(model, "{{ '' }}", "no chat template");
        _free = Enumerable.Range(0, parallel).Select(_ => new ChatConversation(model, slotFormat)).ToList();
        _available = new SemaphoreSlim(parallel, parallel);
        _queue = queue;
    }

    /// <summary>Requests holding a slot.</summary>
    public int Active => Volatile.Read(ref _active);

    /// <summary>
    /// A free slot, the one sharing the longest prefix with <paramref name="promptText"/> (null: any); waits in the queue,
    /// or throws a 503 <see cref="OpenAIError"/> when the queue is full.
    /// </summary>
    public async Task<Lease> AcquireAsync(string? promptText, CancellationToken cancellationToken)
    {
        if (!_available.Wait(0))
        {
            if (Interlocked.Increment(ref _waiting) > _queue)
            {
                Interlocked.Decrement(ref _waiting);
                throw new OpenAIError(503, "the server is busy: every slot is generating and the queue is full; retry later", "server_error", code: "server_busy");
            }
            try
            {
                await _available.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                Interlocked.Decrement(ref _waiting);
            }
        }
        ChatConversation slot;
        lock (_free)
        {
            slot = promptText is null ? _free[^1] : _free.MaxBy(c => c.SharedPrefix(promptText))!;
            _free.Remove(slot);
        }
        Interlocked.Increment(ref _active);
        return new Lease(this, slot);
    }

    private void Release(ChatConversation slot)
    {
        lock (_free) _free.Add(slot);
        Interlocked.Decrement(ref _active);
        _available.Release();
    }

    public void Dispose()
    {
        lock (_free) foreach (var c in _free) c.Dispose();
    }

    /// <summary>A slot held for one request; disposing gives it back.</summary>
    public sealed class Lease(SlotPool pool, ChatConversation conversation) : IDisposable
    {
        private int _done;
        public ChatConversation Conversation { get; } = conversation;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) pool.Release(Conversation);
        }
    }
}
