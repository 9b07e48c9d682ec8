# Tests of the Julia bindings; they need Julia ≥ 1.9 and libijkonet (ENV["IJKONET_LIB"] or the
# crate's target/release). Tiny data and networks, 2 epochs, one thread.
using IJKOnet
using Random
using Test

function tiny_data(n = 12)
    rng = MersenneTwister(1)
    times = [0.0, 1.0, 2.0]
    x = reduce(vcat, [hcat(randn(rng, n) .+ 0.5t, randn(rng, n)) for t in times])
    (x = x, time = repeat(times; inner = n))
end

tiny_model(; kw...) = Model(; variant = "V", energy_hidden = 8, map_hidden = 8, batch_size = 8, map_steps = 2,
    threads = 1, device = "cpu", seed = 3, kw...)

function trained_model()
    d = tiny_data()
    m = tiny_model()
    fit!(m, d.x, d.time; epochs = 2, progress = false)
end

@testset "IJKOnet" begin
    @testset "version" begin
        @test IJKOnet.abi_version() == 1
        @test IJKOnet.version() >= v"0.1.0"
    end

    @testset "fit!" begin
        d = tiny_data()
        m = tiny_model()
        @test state(m) == :collecting
        seen = Int[]
        fit!(m, d.x, d.time; epochs = 2, callback = p -> (push!(seen, Int(p.epoch)); false))
        @test seen == [1, 2]
        @test state(m) == :trained
        @test snapshot_times(m) == [0.0, 1.0, 2.0]
        @test dimension(m) == 2
        fit!(m; epochs = 1, progress = false)
        # Labels that are not numbers become 0, 1, 2 in sorted order.
        m2 = tiny_model()
        fit!(m2, d.x, ["day" * string(Int(t)) for t in d.time]; epochs = 1, progress = false)
        @test snapshot_times(m2) == [0.0, 1.0, 2.0]
    end

    @testset "predict and rollout" begin
        m = trained_model()
        d = tiny_data()
        x0 = d.x[d.time.==0, :]
        p1 = predict(m, x0; step = 1)
        @test size(p1) == size(x0)
        @test all(isfinite, p1)
        @test p1 != x0
        @test predict(m, x0; to_time = 1.0, from_time = 0.0) ≈ p1
        r = rollout(m, x0; from = 1, steps = 2)
        @test size(r) == (size(x0)..., 2)
        @test r[:, :, 1] ≈ p1
        @test r[:, :, 2] ≈ predict(m, p1; step = 2)
        @test_throws IJKOnetError predict(m, x0; step = 3)
    end

    @testset "simulate" begin
        m = trained_model()
        x0 = tiny_data().x[1:5, :]
        s = simulate(m, x0; dt = 0.05, n_steps = 4, seed = 7)
        @test size(s) == (5, 2, 5)
        @test s[:, :, 1] ≈ x0
        @test s == simulate(m, x0; dt = 0.05, n_steps = 4, seed = 7)
        e = try
            simulate(m, x0; dt = -1.0, n_steps = 2)
        catch err
            err
        end
        @test e isa IJKOnetError && e.kind == :invalid_argument
    end

    @testset "potential and gradient" begin
        m = trained_model()
        x = tiny_data().x[1:4, :]
        g = gradient(m, x)
        @test size(g) == size(x)
        h = 1e-2 # float32 networks: a larger step keeps rounding out of the difference
        for j in 1:2
            e = zeros(size(x))
            e[:, j] .= h
            fd = (potential(m, x .+ e) .- potential(m, x .- e)) ./ (2h)
            @test isapprox(g[:, j], fd; rtol = 2e-2)
        end
    end

    @testset "save and load" begin
        m = trained_model()
        path = tempname() * ".safetensors"
        save(m, path)
        loaded = load_model(path)
        @test state(loaded) == :loaded
        x = tiny_data().x[1:6, :]
        @test predict(loaded, x) ≈ predict(m, x)
        @test potential(loaded, x) ≈ potential(m, x)
        @test_throws IJKOnetError fit!(loaded; epochs = 1, progress = false)
        rm(path)
    end

    @testset "errors" begin
        e = try
            Model(learning_rate = 1)
        catch err
            err
        end
        @test e isa IJKOnetError && e.kind == :invalid_argument && occursin("learning_rate", e.msg)
        @test_throws IJKOnetError Model(variant = "V+X")
        @test_throws IJKOnetError Model(epochs = -1)
        @test_throws IJKOnetError predict(tiny_model(), zeros(2, 2))
        d = tiny_data()
        one = d.x[d.time.==0, :]
        @test_throws IJKOnetError fit!(tiny_model(), one, zeros(size(one, 1)); epochs = 1, progress = false)
        @test_throws ArgumentError fit!(tiny_model(), d.x, d.time[2:end])
        @test_throws IJKOnetError load_model(tempname())
        @test_throws IJKOnetError predict(trained_model(), zeros(2, 3))
    end

    @testset "cancellation" begin
        m = trained_model()
        e = try
            fit!(m; epochs = 5, callback = p -> true)
        catch err
            err
        end
        @test e isa IJKOnetError && e.kind == :cancelled
        # An exception in the callback (an InterruptException from Ctrl-C alike) cancels and is rethrown.
        @test_throws InterruptException fit!(m; epochs = 5, callback = p -> throw(InterruptException()))
        fit!(m; epochs = 1, progress = false)
        @test state(m) == :trained
    end
end
