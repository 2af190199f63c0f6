from gpuscope.cli import main

if __name__ == "__main__":  # guarded: spawned workload children import the main module again
    raise SystemExit(main())
