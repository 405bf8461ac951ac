import sys

from sslre.claims.protocol import main

sys.exit(main())
