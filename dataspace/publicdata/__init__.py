"""Public-data authorized operation (公共数据授权运营): the source dataset and the release story."""
